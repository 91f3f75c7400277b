package calendar

import (
	"testing"
	"time"
)

// The rules below restate, independently of the data file, how the NYSE
// picks its holidays and early closes. They exist to catch typos and missing
// lines in nyse_sessions.txt, not to replace it.

// adHoc lists closures no rule predicts. Add one here when the NYSE announces
// it, together with its line in nyse_sessions.txt.
var adHoc = map[day]string{
	{2025, time.January, 9}: "National Day of Mourning for President Jimmy Carter",
}

// easter returns Easter Sunday of year by the anonymous Gregorian algorithm
// (Meeus/Jones/Butcher).
func easter(year int) day {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	dom := (h+l-7*m+114)%31 + 1
	return day{year, time.Month(month), dom}
}

// nthWeekday returns the nth (1-based) wd of month.
func nthWeekday(year int, month time.Month, wd time.Weekday, n int) day {
	first := day{year, month, 1}
	shift := (int(wd) - int(first.utc().Weekday()) + 7) % 7
	return first.add(shift + 7*(n-1))
}

// lastWeekday returns the last wd of month.
func lastWeekday(year int, month time.Month, wd time.Weekday) day {
	last := day{year, month + 1, 1}.add(-1)
	shift := (int(last.utc().Weekday()) - int(wd) + 7) % 7
	return last.add(-shift)
}

// observed moves a fixed-date holiday off the weekend: Saturday to Friday,
// Sunday to Monday.
func observed(d day) day {
	switch d.utc().Weekday() {
	case time.Saturday:
		return d.add(-1)
	case time.Sunday:
		return d.add(1)
	}
	return d
}

// ruleHolidays returns the NYSE holidays of year by rule, plus adHoc ones.
func ruleHolidays(year int) map[day]string {
	h := map[day]string{
		nthWeekday(year, time.January, time.Monday, 3):    "Martin Luther King, Jr. Day",
		nthWeekday(year, time.February, time.Monday, 3):   "Washington's Birthday",
		easter(year).add(-2):                              "Good Friday",
		lastWeekday(year, time.May, time.Monday):          "Memorial Day",
		observed(day{year, time.June, 19}):                "Juneteenth",
		observed(day{year, time.July, 4}):                 "Independence Day",
		nthWeekday(year, time.September, time.Monday, 1):  "Labor Day",
		nthWeekday(year, time.November, time.Thursday, 4): "Thanksgiving Day",
		observed(day{year, time.December, 25}):            "Christmas Day",
	}
	// New Year's Day on a Saturday is not observed on the Friday before, which
	// would fall in the previous year.
	if ny := (day{year, time.January, 1}); ny.utc().Weekday() != time.Saturday {
		h[observed(ny)] = "New Year's Day"
	}
	for d, name := range adHoc {
		if d.year == year {
			h[d] = name
		}
	}
	return h
}

// ruleEarlyCloses returns the customary 13:00 closes of year: the day after
// Thanksgiving, and July 3 and December 24 when they are weekdays and not
// holidays themselves.
func ruleEarlyCloses(year int, holidays map[day]string) map[day]string {
	e := map[day]string{
		nthWeekday(year, time.November, time.Thursday, 4).add(1): "Day after Thanksgiving",
	}
	for d, name := range map[day]string{
		{year, time.July, 3}:      "Independence Day eve",
		{year, time.December, 24}: "Christmas Eve",
	} {
		if _, closed := holidays[d]; !closed && !d.weekend() {
			e[d] = name
		}
	}
	return e
}

func TestEaster(t *testing.T) {
	for _, tc := range []struct {
		year int
		want day
	}{
		{2000, day{2000, time.April, 23}},
		{2019, day{2019, time.April, 21}},
		{2024, day{2024, time.March, 31}},
		{2025, day{2025, time.April, 20}},
		{2026, day{2026, time.April, 5}},
		{2027, day{2027, time.March, 28}},
		{2038, day{2038, time.April, 25}},
	} {
		if got := easter(tc.year); got != tc.want {
			t.Errorf("easter(%d) = %s, want %s", tc.year, got, tc.want)
		}
	}
}

// TestDataMatchesRules checks every day of every covered year against the
// rules: holidays closed, early closes at 13:00, everything else regular.
func TestDataMatchesRules(t *testing.T) {
	c := newCalendar(t)
	first, last := c.Covers()
	for year := first; year <= last; year++ {
		holidays := ruleHolidays(year)
		early := ruleEarlyCloses(year, holidays)
		for d := (day{year, time.January, 1}); d.year == year; d = d.add(1) {
			s, ok, err := c.SessionOn(d.utc())
			if err != nil {
				t.Fatalf("SessionOn(%s): %v", d, err)
			}
			hol, isHoliday := holidays[d]
			wantOpen := !d.weekend() && !isHoliday
			if ok != wantOpen {
				t.Errorf("%s: session %v, want %v (rule holiday %q)", d, ok, wantOpen, hol)
				continue
			}
			if !ok {
				continue
			}
			_, wantEarly := early[d]
			closeNY := s.Close.In(c.loc).Format("15:04")
			if s.Early != wantEarly || (wantEarly && closeNY != "13:00") || (!wantEarly && closeNY != "16:00") {
				t.Errorf("%s: early %v closing %s, want early %v (%q)", d, s.Early, closeNY, wantEarly, early[d])
			}
		}
	}
}
