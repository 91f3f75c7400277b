package calendar

import (
	"testing"
	"time"
)

// The rules below restate, independently of the data file, how the NYSE
// picks its holidays and early closes. They exist to catch typos and missing
// lines in nyse_sessions.txt, not to replace it. They describe the years
// 2000 on; listing earlier years would need the older rules too.

// adHoc lists closures no rule predicts. Add one here when the NYSE announces
// it, together with its line in nyse_sessions.txt.
var adHoc = map[day]string{
	{2001, time.September, 11}: "September 11 attacks",
	{2001, time.September, 12}: "September 11 attacks",
	{2001, time.September, 13}: "September 11 attacks",
	{2001, time.September, 14}: "September 11 attacks",
	{2004, time.June, 11}:      "National Day of Mourning for President Ronald Reagan",
	{2007, time.January, 2}:    "National Day of Mourning for President Gerald Ford",
	{2012, time.October, 29}:   "Hurricane Sandy",
	{2012, time.October, 30}:   "Hurricane Sandy",
	{2018, time.December, 5}:   "National Day of Mourning for President George H.W. Bush",
	{2025, time.January, 9}:    "National Day of Mourning for President Jimmy Carter",
}

// adHocEarly lists early closes no rule predicts, with their close.
var adHocEarly = map[day]special{
	{2003, time.December, 26}: {close: 13 * 60, name: "Day after Christmas"},
	{2005, time.June, 1}:      {close: 15*60 + 56, name: "Systems communication problem"},
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
		observed(day{year, time.July, 4}):                 "Independence Day",
		nthWeekday(year, time.September, time.Monday, 1):  "Labor Day",
		nthWeekday(year, time.November, time.Thursday, 4): "Thanksgiving Day",
		observed(day{year, time.December, 25}):            "Christmas Day",
	}
	// Juneteenth is an NYSE holiday since 2022.
	if year >= 2022 {
		h[observed(day{year, time.June, 19})] = "Juneteenth"
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

// ruleEarlyCloses returns the early closes of year: the customary 13:00
// closes on the day after Thanksgiving, and on July 3 and December 24 when
// they are weekdays and not holidays themselves, plus adHocEarly ones.
// Before 2013 a Wednesday July 3 was a regular session and the Friday after
// July 4, July 5, closed early instead.
func ruleEarlyCloses(year int, holidays map[day]string) map[day]special {
	const onePM = 13 * 60
	e := map[day]special{
		nthWeekday(year, time.November, time.Thursday, 4).add(1): {close: onePM, name: "Day after Thanksgiving"},
	}
	july := special{close: onePM, name: "Independence Day eve"}
	julyDay := day{year, time.July, 3}
	if year < 2013 && julyDay.utc().Weekday() == time.Wednesday {
		julyDay, july.name = julyDay.add(2), "Day after Independence Day"
	}
	for d, sp := range map[day]special{
		julyDay:                   july,
		{year, time.December, 24}: {close: onePM, name: "Christmas Eve"},
	} {
		if _, closed := holidays[d]; !closed && !d.weekend() {
			e[d] = sp
		}
	}
	for d, sp := range adHocEarly {
		if d.year == year {
			e[d] = sp
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

// TestRulesKnownDays checks the rules themselves against published facts,
// and the calendar against the same facts. want is "closed" or the New York
// close.
func TestRulesKnownDays(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name string
		d    day
		want string
	}{
		{"September 11 attacks", day{2001, time.September, 11}, "closed"},
		{"reopened after September 11", day{2001, time.September, 17}, "16:00"},
		{"Wednesday July 3 before 2013", day{2002, time.July, 3}, "16:00"},
		{"Friday July 5 before 2013", day{2002, time.July, 5}, "13:00"},
		{"Wednesday July 3 since 2013", day{2013, time.July, 3}, "13:00"},
		{"Friday July 5 since 2013", day{2013, time.July, 5}, "16:00"},
		{"ad-hoc early close after Christmas", day{2003, time.December, 26}, "13:00"},
		{"no early close after Christmas", day{2008, time.December, 26}, "16:00"},
		{"systems communication problem", day{2005, time.June, 1}, "15:56"},
		{"New Year 2005 on Saturday is not observed", day{2004, time.December, 31}, "16:00"},
		{"President Ford", day{2007, time.January, 2}, "closed"},
		{"Hurricane Sandy", day{2012, time.October, 30}, "closed"},
		{"no Juneteenth before 2022", day{2021, time.June, 18}, "16:00"},
		{"Juneteenth observed", day{2022, time.June, 20}, "closed"},
	} {
		holidays := ruleHolidays(tc.d.year)
		rule := "16:00"
		if sp, ok := ruleEarlyCloses(tc.d.year, holidays)[tc.d]; ok {
			rule = sp.close.String()
		}
		if _, ok := holidays[tc.d]; ok {
			rule = "closed"
		}
		data := "closed"
		if s, ok, err := c.SessionOn(tc.d.utc()); err != nil {
			t.Fatalf("SessionOn(%s): %v", tc.d, err)
		} else if ok {
			data = s.Close.In(c.loc).Format("15:04")
		}
		if rule != tc.want || data != tc.want {
			t.Errorf("%s: %s is %s by the rules and %s in the data, want %s", tc.name, tc.d, rule, data, tc.want)
		}
	}
}

// TestDataMatchesRules checks every day of every covered year against the
// rules: holidays closed, early closes at their close, everything else
// regular.
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
			want, wantEarly := early[d]
			if !wantEarly {
				want.close = regularClose
			}
			closeNY := s.Close.In(c.loc).Format("15:04")
			if s.Early != wantEarly || closeNY != want.close.String() {
				t.Errorf("%s: early %v closing %s, want early %v closing %s (%q)", d, s.Early, closeNY, wantEarly, want.close, want.name)
			}
		}
	}
}
