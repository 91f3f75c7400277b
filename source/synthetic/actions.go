package synthetic

import (
	"math"
	"slices"
	"time"

	"marketfleet/market"
)

// inEffect returns the configured actions of symbol in effect at asOf
// (market.Action.Effective), oldest first.
func (s *Source) inEffect(symbol string, asOf time.Time) []market.Action {
	all := s.actions[symbol]
	n, _ := slices.BinarySearchFunc(all, asOf, func(a market.Action, t time.Time) int {
		if a.Effective().After(t) {
			return 1
		}
		return -1
	})
	return all[:n]
}

// adjust returns the unadjusted bar b as a source answering after the
// actions in effect reports it, as Yahoo does: for every split whose
// boundary (market.Action.Boundary) is after b's start, prices divided by its ratio and the volume
// multiplied (rounded once, at the end); for every distribution whose
// boundary is after b's start, the adjusted close multiplied by
// 1 - amount / (the unadjusted daily close of the day before the ex-date).
func (m model) adjust(b market.Bar, inEffect []market.Action) market.Bar {
	ratio, factor := 1.0, 1.0
	for _, a := range inEffect {
		if !b.TS.Before(a.Boundary(m.interval)) {
			continue
		}
		switch a.Kind {
		case market.Split:
			ratio *= a.Ratio()
		case market.Dividend, market.CapitalGain:
			factor *= 1 - a.Amount/m.closeBefore(a.ExDate)
		}
	}
	if ratio == 1 && factor == 1 {
		return b
	}
	b.Open, b.High, b.Low, b.Close = b.Open/ratio, b.High/ratio, b.Low/ratio, b.Close/ratio
	b.Volume = int64(math.Round(float64(b.Volume) * ratio))
	adj := b.Close * factor
	b.AdjClose = &adj
	return b
}

// closeBefore is the unadjusted close of the symbol's daily bar before the
// one of t (Yahoo's factor uses the previous day's close, whatever the
// interval asked for).
func (m model) closeBefore(t time.Time) float64 {
	daily := newModel(m.symbol, market.Interval1d)
	start := market.Interval1d.Floor(t.Add(-time.Nanosecond))
	return daily.bar(start, market.Interval1d.Next(start)).Close
}

// reported returns the actions of inEffect whose ex-date lies in
// [from, to), as a source reports them: a distribution's amount in the
// units of the answer, divided by the ratio of every split in effect on or
// after its ex-date.
func reported(inEffect []market.Action, from, to time.Time) []market.Action {
	out := []market.Action{}
	for _, a := range inEffect {
		if a.ExDate.Before(from) || !a.ExDate.Before(to) {
			continue
		}
		if a.Kind != market.Split {
			for _, s := range inEffect {
				if s.Kind == market.Split && !s.ExDate.Before(a.ExDate) {
					a.Amount /= s.Ratio()
				}
			}
		}
		a.Source = Name
		out = append(out, a)
	}
	return out
}
