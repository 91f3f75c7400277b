package market

import "time"

// Bar is one OHLCV price bar of a symbol at an interval. The triple
// (Symbol, Interval, TS) identifies it: writing the same bar twice is an
// idempotent upsert.
type Bar struct {
	Symbol   string
	Interval Interval
	// TS is the start of the bar, in UTC.
	TS    time.Time
	Open  float64
	High  float64
	Low   float64
	Close float64
	// AdjClose is the close adjusted for splits and dividends, or nil when the
	// source does not provide one.
	AdjClose *float64
	Volume   int64
	// Source names where the bar came from ("synthetic", "yahoo").
	Source string
	// AsOf is the instant whose corporate actions the values are adjusted
	// for: when the source answered (source.Response.AsOf). The zero value
	// means the time of the write.
	AsOf time.Time
	// ProvisionalUntil is the zero time for a final bar. Otherwise the bar
	// was fetched before it was final (its session or interval had not
	// closed, or the source may still revise it) and it is the instant
	// from which a fetch returns the final values (see package history).
	ProvisionalUntil time.Time
}

// Provisional reports whether b was fetched before it was final.
func (b Bar) Provisional() bool { return !b.ProvisionalUntil.IsZero() }

// Key identifies a bar: two bars with the same key are the same row.
type Key struct {
	Symbol   string
	Interval Interval
	TS       int64 // Unix microseconds, the precision PostgreSQL stores
}

// Key returns the bar's identity.
func (b Bar) Key() Key {
	return Key{Symbol: b.Symbol, Interval: b.Interval, TS: b.TS.UnixMicro()}
}

// Series identifies the bars of one symbol at one interval.
type Series struct {
	Symbol   string
	Interval Interval
}

// String is "SYMBOL/INTERVAL".
func (s Series) String() string { return s.Symbol + "/" + string(s.Interval) }

// Series returns the series the bar belongs to.
func (b Bar) Series() Series { return Series{Symbol: b.Symbol, Interval: b.Interval} }
