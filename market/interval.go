package market

import (
	"fmt"
	"strings"
	"time"
)

// Interval is the width of one bar, spelled as the Yahoo chart API spells it.
// The zero value is not a valid interval.
type Interval string

// The supported intervals. Their string values are stored in the database and
// travel in task envelopes: they are part of the wire contract.
const (
	Interval1m  Interval = "1m"
	Interval2m  Interval = "2m"
	Interval5m  Interval = "5m"
	Interval15m Interval = "15m"
	Interval30m Interval = "30m"
	Interval60m Interval = "60m"
	Interval90m Interval = "90m"
	Interval1d  Interval = "1d"
	Interval5d  Interval = "5d"
	Interval1wk Interval = "1wk"
	Interval1mo Interval = "1mo"
	Interval3mo Interval = "3mo"
)

// intervals lists every canonical interval with its nominal step. Monthly
// intervals step by calendar months (see Interval.Next); their step here is an
// upper bound used only for size estimates.
var intervals = []struct {
	iv   Interval
	step time.Duration
}{
	{Interval1m, time.Minute},
	{Interval2m, 2 * time.Minute},
	{Interval5m, 5 * time.Minute},
	{Interval15m, 15 * time.Minute},
	{Interval30m, 30 * time.Minute},
	{Interval60m, time.Hour},
	{Interval90m, 90 * time.Minute},
	{Interval1d, 24 * time.Hour},
	{Interval5d, 5 * 24 * time.Hour},
	{Interval1wk, 7 * 24 * time.Hour},
	{Interval1mo, 31 * 24 * time.Hour},
	{Interval3mo, 92 * 24 * time.Hour},
}

// aliases maps accepted spellings to their canonical interval.
var aliases = map[string]Interval{"1h": Interval60m}

// ParseInterval returns the canonical interval for s. It accepts every
// canonical value and the alias "1h" (returned as "60m"). Any other input
// returns an error that wraps ErrInvalidInterval and lists the valid values.
func ParseInterval(s string) (Interval, error) {
	if iv, ok := aliases[s]; ok {
		return iv, nil
	}
	iv := Interval(s)
	if iv.Valid() {
		return iv, nil
	}
	return "", fmt.Errorf("%w %q: want one of %s", ErrInvalidInterval, s, validList())
}

// Valid reports whether iv is one of the canonical intervals. Aliases are not
// valid here: envelopes and rows carry canonical values only.
func (iv Interval) Valid() bool {
	for _, e := range intervals {
		if e.iv == iv {
			return true
		}
	}
	return false
}

// Step is the nominal width of one bar: exact for minute, day and week
// intervals, an upper bound (31 or 92 days) for monthly ones. It returns 0 for
// an invalid interval.
func (iv Interval) Step() time.Duration {
	for _, e := range intervals {
		if e.iv == iv {
			return e.step
		}
	}
	return 0
}

// Intraday reports whether bars of iv are shorter than a day.
func (iv Interval) Intraday() bool {
	s := iv.Step()
	return s > 0 && s < 24*time.Hour
}

// monthly returns the number of calendar months per bar, or 0.
func (iv Interval) monthly() int {
	switch iv {
	case Interval1mo:
		return 1
	case Interval3mo:
		return 3
	}
	return 0
}

// Floor returns the start of the bar that contains t, in UTC. Bars are aligned
// on the Unix epoch for minute and day intervals, on Mondays for 1wk, and on
// the first day of the month (of the quarter for 3mo) for monthly intervals.
func (iv Interval) Floor(t time.Time) time.Time {
	t = t.UTC()
	if m := iv.monthly(); m > 0 {
		month := (int(t.Month())-1)/m*m + 1
		return time.Date(t.Year(), time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	}
	step := iv.Step()
	if step == 0 {
		return t
	}
	// 1970-01-05 was a Monday: weekly bars start on Mondays.
	var origin time.Time
	if iv == Interval1wk {
		origin = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)
	} else {
		origin = time.Unix(0, 0).UTC()
	}
	d := t.Sub(origin)
	n := d / step
	if d%step < 0 {
		n--
	}
	return origin.Add(n * step)
}

// Next returns the start of the bar after the one that starts at t.
func (iv Interval) Next(t time.Time) time.Time {
	if m := iv.monthly(); m > 0 {
		return t.AddDate(0, m, 0)
	}
	return t.Add(iv.Step())
}

// Ceil returns the earliest bar start at or after t.
func (iv Interval) Ceil(t time.Time) time.Time {
	f := iv.Floor(t)
	if f.Equal(t.UTC()) {
		return f
	}
	return iv.Next(f)
}

// MaxBars estimates an upper bound on the number of bars in [from, to).
func (iv Interval) MaxBars(from, to time.Time) int64 {
	step := iv.Step()
	if step == 0 || !to.After(from) {
		return 0
	}
	if m := iv.monthly(); m > 0 {
		months := (to.Year()-from.Year())*12 + int(to.Month()) - int(from.Month())
		return int64(months/m + 1)
	}
	return int64(to.Sub(from)/step) + 1
}

func validList() string {
	names := make([]string, 0, len(intervals))
	for _, e := range intervals {
		names = append(names, string(e.iv))
	}
	return strings.Join(names, ", ")
}
