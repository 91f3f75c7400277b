package tasks

import (
	"time"

	"marketfleet/market"
)

// MaxWindowBars is the most bars SplitWindow puts in one window: 49,999, one
// fewer than MaxBarsPerTask. Task.Validate bounds a window with
// market.Interval.MaxBars, an upper-bound estimate that counts one bar more
// than a window aligned on bar boundaries holds, so a window of exactly
// MaxBarsPerTask aligned bars would be refused.
const MaxWindowBars = MaxBarsPerTask - 1

// Window is a half-open time range [From, To) in UTC.
type Window struct {
	From, To time.Time
}

// SplitWindow splits [from, to) into consecutive windows of at most maxBars
// bars of iv, in order, with no gaps and no overlaps. The first window starts
// at iv.Floor(from), so the bar containing from is included; the last ends at
// to exactly, aligned or not. Every other boundary lies on a fixed grid: bar
// number k*maxBars counted from the bar containing the Unix epoch. The split
// is therefore deterministic, and two splits of overlapping ranges with the
// same iv and maxBars share every window that both cover entirely, hence the
// same message ids. Each window passes Task.Validate's size check.
//
// It returns an error wrapping ErrInvalid (a *FieldError) when iv is not a
// canonical interval, from is not before to, the range (from the start of
// the bar containing from) lies outside 1900-2200, or maxBars is not in 1..MaxWindowBars.
func SplitWindow(iv market.Interval, from, to time.Time, maxBars int) ([]Window, error) {
	n, err := CountWindows(iv, from, to, maxBars)
	if err != nil {
		return nil, err
	}
	g := newGrid(iv)
	mb := int64(maxBars)
	start := iv.Floor(from)
	last := g.index(iv.Floor(to.Add(-time.Nanosecond)))
	out := make([]Window, 0, n)
	for i := g.index(start); ; {
		next := (floorDiv(i, mb) + 1) * mb
		if next > last {
			return append(out, Window{From: start, To: to.UTC()}), nil
		}
		end := g.start(next)
		out = append(out, Window{From: start, To: end})
		start, i = end, next
	}
}

// CountWindows returns len(SplitWindow(iv, from, to, maxBars)) without
// building the windows, so that a caller can refuse an oversized request
// first. It returns the errors SplitWindow returns.
func CountWindows(iv market.Interval, from, to time.Time, maxBars int) (int, error) {
	if err := checkSplit(iv, from, to, maxBars); err != nil {
		return 0, err
	}
	g := newGrid(iv)
	mb := int64(maxBars)
	first := floorDiv(g.index(iv.Floor(from)), mb)
	last := floorDiv(g.index(iv.Floor(to.Add(-time.Nanosecond))), mb)
	return int(last - first + 1), nil
}

func checkSplit(iv market.Interval, from, to time.Time, maxBars int) error {
	switch {
	case !iv.Valid():
		_, err := market.ParseInterval(string(iv))
		return invalid("interval", "%v", err)
	case !to.After(from):
		return invalid("from/to", "empty range: to %s is not after from %s", stamp(to), stamp(from))
	case iv.Floor(from).Before(Earliest) || to.After(latest):
		return invalid("from/to", "range %s/%s outside %d-%d", stamp(from), stamp(to), Earliest.Year(), latest.Year())
	case maxBars < 1 || maxBars > MaxWindowBars:
		return invalid("max bars", "%d, want 1 to %d", maxBars, MaxWindowBars)
	}
	return nil
}

// grid numbers the bars of one interval: bar 0 is the one containing the
// Unix epoch, bar -1 the one before it.
type grid struct {
	iv     market.Interval
	origin time.Time
	months int // calendar months per bar; 0 for fixed-width bars
}

func newGrid(iv market.Interval) grid {
	g := grid{iv: iv, origin: iv.Floor(time.Unix(0, 0))}
	// Monthly bars differ in width (Step is only their upper bound), so
	// they are counted in calendar months.
	switch iv {
	case market.Interval1mo:
		g.months = 1
	case market.Interval3mo:
		g.months = 3
	}
	return g
}

// index is the number of the bar starting at t, which must be a bar start
// between 1900 and 2200 (so that no duration overflows).
func (g grid) index(t time.Time) int64 {
	if g.months > 0 {
		months := (t.Year()-g.origin.Year())*12 + int(t.Month()) - int(g.origin.Month())
		return floorDiv(int64(months), int64(g.months))
	}
	return int64(t.Sub(g.origin) / g.iv.Step())
}

// start is the start of bar n.
func (g grid) start(n int64) time.Time {
	if g.months > 0 {
		return g.origin.AddDate(0, int(n)*g.months, 0)
	}
	return g.origin.Add(time.Duration(n) * g.iv.Step())
}

// floorDiv is a/b rounded towards negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
