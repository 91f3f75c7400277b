package yahoo

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

// chartResult is chart.result[0]. Numbers are pointers so that a JSON null
// is told apart from zero.
type chartResult struct {
	Meta       chartMeta  `json:"meta"`
	Timestamp  []*int64   `json:"timestamp"`
	Indicators indicators `json:"indicators"`
	Events     *events    `json:"events"`
}

// events are the corporate actions of the window (events=div|split), each
// map keyed by the Unix timestamp of the bar the action falls in.
type events struct {
	Splits       map[string]splitEvent `json:"splits"`
	Dividends    map[string]cashEvent  `json:"dividends"`
	CapitalGains map[string]cashEvent  `json:"capitalGains"`
}

type splitEvent struct {
	Date        int64   `json:"date"` // the ex-date, Unix seconds
	Numerator   float64 `json:"numerator"`
	Denominator float64 `json:"denominator"`
}

type cashEvent struct {
	Date   int64   `json:"date"`
	Amount float64 `json:"amount"`
}

type chartMeta struct {
	ExchangeTimezoneName string  `json:"exchangeTimezoneName"`
	GMTOffset            float64 `json:"gmtoffset"` // seconds east of UTC
}

type indicators struct {
	Quote    []quote    `json:"quote"`
	AdjClose []adjClose `json:"adjclose"`
}

type quote struct {
	Open   []*float64 `json:"open"`
	High   []*float64 `json:"high"`
	Low    []*float64 `json:"low"`
	Close  []*float64 `json:"close"`
	Volume []*float64 `json:"volume"`
}

type adjClose struct {
	AdjClose []*float64 `json:"adjclose"`
}

// bars converts the result into the bars of req: complete rows only,
// normalised TS, one per TS (the last), a trailing live row merged into its
// period's bar, inside [From, To), oldest first. A result whose quote
// arrays do not line up with its timestamps, that repeats a timestamp or
// dates one more than a day after asOf (when it arrived), names a time zone
// that does not exist, or holds a negative volume is garbage: the error
// wraps source.ErrBadData.
func (r *chartResult) bars(req source.Request, asOf time.Time) ([]market.Bar, error) {
	out := make([]market.Bar, 0, len(r.Timestamp))
	if len(r.Timestamp) == 0 {
		return out, nil
	}
	if err := r.check(asOf); err != nil {
		return nil, err
	}
	stamp := r.stamper(req.Interval)
	for i, ts := range r.Timestamp {
		if ts == nil {
			continue
		}
		b, ok, err := r.row(i)
		if err != nil {
			return nil, fmt.Errorf("%w: row %d (%s): %w", source.ErrBadData, i, time.Unix(*ts, 0).UTC().Format(time.RFC3339), err)
		}
		if ok {
			b.TS = stamp(*ts)
			b.Symbol, b.Interval, b.Source = req.Symbol, req.Interval, Name
			out = append(out, b)
		}
	}
	out = mergeLive(lastPerTS(out), req.Interval)
	return slices.DeleteFunc(out, func(b market.Bar) bool {
		return b.TS.Before(req.From) || !b.TS.Before(req.To)
	}), nil
}

// check refuses a result whose columns do not line up with its timestamps,
// that repeats a timestamp or has one more than a day after asOf, or whose
// exchange time zone does not exist.
func (r *chartResult) check(asOf time.Time) error {
	n := len(r.Timestamp)
	var q quote
	if len(r.Indicators.Quote) > 0 {
		q = r.Indicators.Quote[0]
	}
	cols := []struct {
		name string
		vals []*float64
	}{{"open", q.Open}, {"high", q.High}, {"low", q.Low}, {"close", q.Close}, {"volume", q.Volume}}
	if len(r.Indicators.AdjClose) > 0 {
		cols = append(cols, struct {
			name string
			vals []*float64
		}{"adjclose", r.Indicators.AdjClose[0].AdjClose})
	}
	for _, c := range cols {
		if len(c.vals) != n {
			return fmt.Errorf("%w: %d %s values for %d timestamps", source.ErrBadData, len(c.vals), c.name, n)
		}
	}
	seen := make(map[int64]bool, n)
	for _, ts := range r.Timestamp {
		if ts == nil {
			continue
		}
		at := time.Unix(*ts, 0).UTC()
		if seen[*ts] {
			return fmt.Errorf("%w: timestamp %d (%s) appears twice", source.ErrBadData, *ts, at.Format(time.RFC3339))
		}
		if at.After(asOf.Add(24 * time.Hour)) {
			return fmt.Errorf("%w: timestamp %d (%s) is after the answer (%s)", source.ErrBadData, *ts, at.Format(time.RFC3339),
				asOf.UTC().Format(time.RFC3339))
		}
		seen[*ts] = true
	}
	if name := r.Meta.ExchangeTimezoneName; name != "" {
		if _, err := time.LoadLocation(name); err != nil {
			return fmt.Errorf("%w: exchange time zone %q: %w", source.ErrBadData, name, err)
		}
	}
	return nil
}

// actions converts the events into actions of symbol, oldest first, each
// dated by the trading date of its "date" in the exchange's time zone, and
// in effect from the start of that date there. They
// are not checked here: a missing field is a zero, which the caller's
// validation refuses.
func (r *chartResult) actions(symbol string) []market.Action {
	if r.Events == nil {
		return []market.Action{}
	}
	loc := r.Meta.location()
	out := make([]market.Action, 0, len(r.Events.Splits)+len(r.Events.Dividends)+len(r.Events.CapitalGains))
	action := func(date int64, kind market.ActionKind) market.Action {
		ex := tradingDate(date, loc)
		return market.Action{Symbol: symbol, ExDate: ex, Kind: kind, Source: Name,
			EffectiveAt: time.Date(ex.Year(), ex.Month(), ex.Day(), 0, 0, 0, 0, loc).UTC()}
	}
	for _, e := range r.Events.Splits {
		a := action(e.Date, market.Split)
		a.Numerator, a.Denominator = e.Numerator, e.Denominator
		out = append(out, a)
	}
	for kind, events := range map[market.ActionKind]map[string]cashEvent{
		market.Dividend: r.Events.Dividends, market.CapitalGain: r.Events.CapitalGains,
	} {
		for _, e := range events {
			a := action(e.Date, kind)
			a.Amount = e.Amount
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b market.Action) int {
		return cmp.Or(a.ExDate.Compare(b.ExDate), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// row returns the prices and volume of row i, or false if any of open,
// high, low, close or volume is null (Yahoo's rows without trades). A
// volume that is negative or beyond int64 is an error.
func (r *chartResult) row(i int) (market.Bar, bool, error) {
	var q quote
	if len(r.Indicators.Quote) > 0 {
		q = r.Indicators.Quote[0]
	}
	o, h, l, c, v := at(q.Open, i), at(q.High, i), at(q.Low, i), at(q.Close, i), at(q.Volume, i)
	if o == nil || h == nil || l == nil || c == nil || v == nil {
		return market.Bar{}, false, nil
	}
	vol, ok := toVolume(*v)
	if !ok {
		return market.Bar{}, false, fmt.Errorf("volume %g is not a count", *v)
	}
	b := market.Bar{Open: *o, High: *h, Low: *l, Close: *c, Volume: vol}
	if len(r.Indicators.AdjClose) > 0 {
		if a := at(r.Indicators.AdjClose[0].AdjClose, i); a != nil {
			adj := *a
			b.AdjClose = &adj
		}
	}
	return b, true, nil
}

// at returns s[i], or nil when i is out of range.
func at(s []*float64, i int) *float64 {
	if i < len(s) {
		return s[i]
	}
	return nil
}

// toVolume converts a JSON volume to int64, rounding a fractional one. It
// returns false for a negative or out-of-range value.
func toVolume(v float64) (int64, bool) {
	if !(v >= 0 && v < math.MaxInt64) { // also false for NaN
		return 0, false
	}
	return int64(math.Round(v)), true
}

// stamper returns the function that normalises a Yahoo timestamp for iv (see
// the package documentation).
func (r *chartResult) stamper(iv market.Interval) func(int64) time.Time {
	if !iv.Intraday() {
		loc := r.Meta.location()
		return func(ts int64) time.Time { return tradingDate(ts, loc) }
	}
	step := int64(iv.Step() / time.Second)
	origin := r.firstTimestamp()
	return func(ts int64) time.Time { return time.Unix(onGrid(ts, origin, step), 0).UTC() }
}

// firstTimestamp is the first non-null timestamp (0 if there is none).
func (r *chartResult) firstTimestamp() int64 {
	for _, ts := range r.Timestamp {
		if ts != nil {
			return *ts
		}
	}
	return 0
}

// lastPerTS sorts bars by TS, keeping only the last (in input order) of bars
// that share a TS. It reuses the backing array of bars.
func lastPerTS(bars []market.Bar) []market.Bar {
	slices.SortStableFunc(bars, func(a, b market.Bar) int { return a.TS.Compare(b.TS) })
	out := bars[:0]
	for i := range bars {
		if i+1 < len(bars) && bars[i+1].TS.Equal(bars[i].TS) {
			continue
		}
		out = append(out, bars[i])
	}
	return out
}

// mergeLive folds a trailing live bar into the bar before it when it falls
// inside that bar's period, for intervals longer than a day. While a market
// is open Yahoo returns the current day as a separate last row of weekly,
// monthly and quarterly charts, stamped with the day rather than the period
// start; stored as is, it would add a stray bar on every fetch. The merged bar
// keeps the earlier open and TS and takes the high and low of both, the live
// close and adjusted close, and the sum of the volumes. bars must be sorted by
// TS without duplicates.
func mergeLive(bars []market.Bar, iv market.Interval) []market.Bar {
	n := len(bars)
	if n < 2 || iv.Intraday() || iv == market.Interval1d {
		return bars
	}
	prev, live := &bars[n-2], bars[n-1]
	if !live.TS.Before(iv.Next(prev.TS)) {
		return bars
	}
	prev.High = max(prev.High, live.High)
	prev.Low = min(prev.Low, live.Low)
	prev.Close, prev.AdjClose = live.Close, live.AdjClose
	prev.Volume += live.Volume
	return bars[:n-1]
}
