package features

import (
	"fmt"
	"math"
	"time"

	"marketfleet/market"
)

// Lookback is how many bars before a row Compute needs for that row's window
// features (Return, LogReturn, SMA5/20/50, Vol20, VolumeZ20) to be defined and
// bit-identical to a full-history computation: SMA50 spans the row and the 49
// bars before it, the widest window. With Lookback earlier bars every feature
// of the row is defined (non-nil, data permitting), but EMAs and RSI14 equal
// the full-history values only when the whole history is supplied (see the
// package documentation).
const Lookback = 49

// Window lengths, in bars.
const (
	shortWindow = 5
	midWindow   = 20
	longWindow  = 50
	rsiWindow   = 14
)

// Row holds the features of one bar. Each feature is nil when it is not
// defined for this bar (see the package documentation), never 0 in its place.
type Row struct {
	Symbol   string
	Interval market.Interval
	// TS is the start of the bar, in UTC.
	TS time.Time

	Return    *float64 // simple return against the previous bar
	LogReturn *float64 // natural log of the price ratio to the previous bar
	SMA5      *float64
	SMA20     *float64
	SMA50     *float64
	EMA5      *float64
	EMA20     *float64
	EMA50     *float64
	RSI14     *float64 // Wilder's RSI, 0..100
	Vol20     *float64 // sample stdev of the last 20 log returns, not annualised
	VolumeZ20 *float64 // z-score of the volume within the last 20 volumes

	// Provisional is true when a bar at or before this one (every one of
	// them feeds the EMAs) was provisional: the row changes when that bar
	// is replaced by its final values.
	Provisional bool
}

// Compute returns one Row per bar, in the same order. bars must be one series:
// a single symbol and interval, strictly increasing in TS. Rows equal those of
// a full-history computation only if bars start at the series' first bar (see
// the package documentation on computing incrementally). No bars gives no
// rows and no error.
//
// It returns an error wrapping ErrMixedSeries, ErrUnsorted or ErrBadBar
// (naming the offending bar) when the input breaks those rules; then no rows.
func Compute(bars []market.Bar) ([]Row, error) {
	if err := validate(bars); err != nil {
		return nil, fmt.Errorf("compute features: %w", err)
	}
	if len(bars) == 0 {
		return nil, nil
	}
	p, v := pricesOf(bars), volumesOf(bars)
	ret, logRet := returns(p)
	sma5, sma20, sma50 := sma(p, shortWindow), sma(p, midWindow), sma(p, longWindow)
	ema5, ema20, ema50 := ema(p, shortWindow), ema(p, midWindow), ema(p, longWindow)
	rsi14 := rsi(p, rsiWindow)
	vol20 := rollingStdev(logRet, midWindow)
	volZ := zscore(v, midWindow)
	rows := make([]Row, len(bars))
	provisional := false
	for i, b := range bars {
		provisional = provisional || b.Provisional()
		rows[i] = Row{
			Provisional: provisional,
			Symbol:      b.Symbol, Interval: b.Interval, TS: b.TS.UTC(),
			Return: ret[i], LogReturn: logRet[i],
			SMA5: sma5[i], SMA20: sma20[i], SMA50: sma50[i],
			EMA5: ema5[i], EMA20: ema20[i], EMA50: ema50[i],
			RSI14: rsi14[i], Vol20: vol20[i], VolumeZ20: volZ[i],
		}
	}
	return rows, nil
}

// Since returns the rows whose TS is at or after from: the suffix a caller
// writes after computing over warm-up history. rows must be in increasing TS
// order, as Compute returns them. The result shares rows' backing array.
func Since(rows []Row, from time.Time) []Row {
	for i, r := range rows {
		if !r.TS.Before(from) {
			return rows[i:]
		}
	}
	return nil
}

// Price returns the price the features use for b: its adjusted close when it
// has one, else its close.
func Price(b market.Bar) float64 {
	if b.AdjClose != nil {
		return *b.AdjClose
	}
	return b.Close
}

// validate checks that bars form one strictly increasing series of usable bars.
func validate(bars []market.Bar) error {
	for i, b := range bars {
		if p := Price(b); math.IsNaN(p) || math.IsInf(p, 0) || b.Volume < 0 {
			return fmt.Errorf("%s: price %v, volume %d: %w", describe(i, b), p, b.Volume, ErrBadBar)
		}
		if i == 0 {
			continue
		}
		first, prev := bars[0], bars[i-1]
		if b.Symbol != first.Symbol || b.Interval != first.Interval {
			return fmt.Errorf("%s: series is %s %s: %w", describe(i, b), first.Symbol, first.Interval, ErrMixedSeries)
		}
		if !b.TS.After(prev.TS) {
			return fmt.Errorf("%s: not after the previous bar %s: %w", describe(i, b), prev.TS.UTC().Format(time.RFC3339Nano), ErrUnsorted)
		}
	}
	return nil
}

// describe names bar i for an error message: "bar 3 (AAPL 1d 2024-01-04T00:00:00Z)".
func describe(i int, b market.Bar) string {
	return fmt.Sprintf("bar %d (%s %s %s)", i, b.Symbol, b.Interval, b.TS.UTC().Format(time.RFC3339Nano))
}

func pricesOf(bars []market.Bar) []float64 {
	p := make([]float64, len(bars))
	for i, b := range bars {
		p[i] = Price(b)
	}
	return p
}

func volumesOf(bars []market.Bar) []float64 {
	v := make([]float64, len(bars))
	for i, b := range bars {
		v[i] = float64(b.Volume)
	}
	return v
}
