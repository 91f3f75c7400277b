package calendar

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func newCalendar(t *testing.T) *NYSE {
	t.Helper()
	c, err := NewNYSE()
	if err != nil {
		t.Fatalf("NewNYSE: %v", err)
	}
	return c
}

// ny returns the instant at which New York clocks read the given time.
func ny(t *testing.T, y int, m time.Month, d, h, mi, s int) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load America/New_York: %v", err)
	}
	return time.Date(y, m, d, h, mi, s, 0, loc)
}

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func utcAt(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

// TestKnownSpecialDays checks the file against the dates published by the
// NYSE, written out by hand, independently of the rules in rules_test.go.
func TestKnownSpecialDays(t *testing.T) {
	c := newCalendar(t)
	holidays := map[int][]string{
		2025: {"01-01", "01-09", "01-20", "02-17", "04-18", "05-26", "06-19", "07-04", "09-01", "11-27", "12-25"},
		2026: {"01-01", "01-19", "02-16", "04-03", "05-25", "06-19", "07-03", "09-07", "11-26", "12-25"},
		2027: {"01-01", "01-18", "02-15", "03-26", "05-31", "06-18", "07-05", "09-06", "11-25", "12-24"},
	}
	early := map[int][]string{
		2025: {"07-03", "11-28", "12-24"},
		2026: {"11-27", "12-24"},
		2027: {"11-26"},
	}
	for year := 2025; year <= 2027; year++ {
		var gotHol, gotEarly []string
		for d := (day{year, time.January, 1}); d.year == year; d = d.add(1) {
			s, ok, err := c.SessionOn(d.utc())
			switch {
			case err != nil:
				t.Fatalf("SessionOn(%s): %v", d, err)
			case !ok && !d.weekend():
				gotHol = append(gotHol, d.String()[5:])
			case ok && s.Early:
				gotEarly = append(gotEarly, d.String()[5:])
			}
		}
		if strings.Join(gotHol, " ") != strings.Join(holidays[year], " ") {
			t.Errorf("%d holidays = %v, want %v", year, gotHol, holidays[year])
		}
		if strings.Join(gotEarly, " ") != strings.Join(early[year], " ") {
			t.Errorf("%d early closes = %v, want %v", year, gotEarly, early[year])
		}
	}
}

func TestSessionOn(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name        string
		date        time.Time
		ok          bool
		open, close time.Time
		early       bool
	}{
		{"Friday before DST, EST", date(2026, 3, 6), true, utcAt(2026, 3, 6, 14, 30), utcAt(2026, 3, 6, 21, 0), false},
		{"Monday after DST, EDT", date(2026, 3, 9), true, utcAt(2026, 3, 9, 13, 30), utcAt(2026, 3, 9, 20, 0), false},
		{"Friday before DST ends, EDT", date(2026, 10, 30), true, utcAt(2026, 10, 30, 13, 30), utcAt(2026, 10, 30, 20, 0), false},
		{"Monday after DST ends, EST", date(2026, 11, 2), true, utcAt(2026, 11, 2, 14, 30), utcAt(2026, 11, 2, 21, 0), false},
		{"early close, EST", date(2026, 11, 27), true, utcAt(2026, 11, 27, 14, 30), utcAt(2026, 11, 27, 18, 0), true},
		{"early close, EDT", date(2025, 7, 3), true, utcAt(2025, 7, 3, 13, 30), utcAt(2025, 7, 3, 17, 0), true},
		{"Thanksgiving", date(2026, 11, 26), false, time.Time{}, time.Time{}, false},
		{"ad-hoc closure", date(2025, 1, 9), false, time.Time{}, time.Time{}, false},
		{"Saturday", date(2026, 11, 28), false, time.Time{}, time.Time{}, false},
		{"Sunday", date(2026, 11, 29), false, time.Time{}, time.Time{}, false},
		{"New Year 2028 on Saturday is not observed", date(2027, 12, 31), true, utcAt(2027, 12, 31, 14, 30), utcAt(2027, 12, 31, 21, 0), false},
		{"clock and location ignored", ny(t, 2026, 3, 6, 23, 59, 0), true, utcAt(2026, 3, 6, 14, 30), utcAt(2026, 3, 6, 21, 0), false},
	} {
		s, ok, err := c.SessionOn(tc.date)
		if err != nil || ok != tc.ok {
			t.Errorf("%s: SessionOn(%s) = %v, %v; want %v", tc.name, tc.date, ok, err, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want := Session{Date: dayOf(tc.date).utc(), Open: tc.open, Close: tc.close, Early: tc.early}
		if s != want {
			t.Errorf("%s: SessionOn(%s) = %+v, want %+v", tc.name, tc.date, s, want)
		}
		if s.Open.Location() != time.UTC || s.Close.Location() != time.UTC {
			t.Errorf("%s: Open and Close must be in UTC, got %v and %v", tc.name, s.Open.Location(), s.Close.Location())
		}
	}
}

func TestSessionRoundTrip(t *testing.T) {
	c := newCalendar(t)
	s, ok, err := c.SessionOn(date(2026, 11, 27))
	if err != nil || !ok {
		t.Fatalf("SessionOn: %v, %v", ok, err)
	}
	again, ok, err := c.SessionOn(s.Date)
	if err != nil || !ok || again != s {
		t.Errorf("SessionOn(s.Date) = %+v, %v, %v; want %+v", again, ok, err, s)
	}
	if got := c.DateOf(s.Close); !got.Equal(s.Date) {
		t.Errorf("DateOf(close) = %s, want %s", got, s.Date)
	}
}

func TestDateOf(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{utcAt(2026, 11, 27, 3, 0), date(2026, 11, 26)}, // 22:00 the evening before in New York
		{utcAt(2026, 11, 27, 5, 0), date(2026, 11, 27)},
		{ny(t, 2026, 7, 1, 23, 59, 59), date(2026, 7, 1)},
		{utcAt(2030, 6, 1, 12, 0), date(2030, 6, 1)}, // uncovered years are fine here
	} {
		if got := c.DateOf(tc.in); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("DateOf(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestIsOpen(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"one second before open", ny(t, 2026, 11, 24, 9, 29, 59), false},
		{"at open", ny(t, 2026, 11, 24, 9, 30, 0), true},
		{"one second before close", ny(t, 2026, 11, 24, 15, 59, 59), true},
		{"at close", ny(t, 2026, 11, 24, 16, 0, 0), false},
		{"Saturday midday", ny(t, 2026, 11, 21, 12, 0, 0), false},
		{"Sunday midday", ny(t, 2026, 11, 22, 12, 0, 0), false},
		{"holiday midday", ny(t, 2026, 11, 26, 12, 0, 0), false},
		{"early close day, before 13:00", ny(t, 2026, 11, 27, 12, 59, 59), true},
		{"early close day, at 13:00", ny(t, 2026, 11, 27, 13, 0, 0), false},
		{"early close day, 15:00", ny(t, 2026, 11, 27, 15, 0, 0), false},
		{"after DST starts, UTC", utcAt(2026, 3, 9, 13, 30), true},
		{"before DST starts, UTC", utcAt(2026, 3, 6, 14, 29), false},
	} {
		got, err := c.IsOpen(tc.at)
		if err != nil || got != tc.want {
			t.Errorf("%s: IsOpen(%s) = %v, %v; want %v", tc.name, tc.at, got, err, tc.want)
		}
	}
}

func TestNextOpenAndClose(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name  string
		at    time.Time
		open  time.Time
		close time.Time
	}{
		{"Friday evening to Monday", ny(t, 2026, 11, 20, 17, 0, 0), ny(t, 2026, 11, 23, 9, 30, 0), ny(t, 2026, 11, 23, 16, 0, 0)},
		{"Friday evening to Tuesday after MLK day", ny(t, 2026, 1, 16, 17, 0, 0), ny(t, 2026, 1, 20, 9, 30, 0), ny(t, 2026, 1, 20, 16, 0, 0)},
		{"before open, same day", ny(t, 2026, 11, 24, 8, 0, 0), ny(t, 2026, 11, 24, 9, 30, 0), ny(t, 2026, 11, 24, 16, 0, 0)},
		{"at open: next day's open, today's close", ny(t, 2026, 11, 24, 9, 30, 0), ny(t, 2026, 11, 25, 9, 30, 0), ny(t, 2026, 11, 24, 16, 0, 0)},
		{"at close: next day's", ny(t, 2026, 11, 24, 16, 0, 0), ny(t, 2026, 11, 25, 9, 30, 0), ny(t, 2026, 11, 25, 16, 0, 0)},
		{"over Thanksgiving to an early close", ny(t, 2026, 11, 25, 18, 0, 0), ny(t, 2026, 11, 27, 9, 30, 0), ny(t, 2026, 11, 27, 13, 0, 0)},
		{"across DST start", ny(t, 2026, 3, 6, 20, 0, 0), utcAt(2026, 3, 9, 13, 30), utcAt(2026, 3, 9, 20, 0)},
		{"across a year end", ny(t, 2025, 12, 31, 16, 30, 0), ny(t, 2026, 1, 2, 9, 30, 0), ny(t, 2026, 1, 2, 16, 0, 0)},
	} {
		open, err := c.NextOpen(tc.at)
		if err != nil || !open.Equal(tc.open) || open.Location() != time.UTC {
			t.Errorf("%s: NextOpen(%s) = %s, %v; want %s", tc.name, tc.at, open, err, tc.open.UTC())
		}
		closeAt, err := c.NextClose(tc.at)
		if err != nil || !closeAt.Equal(tc.close) || closeAt.Location() != time.UTC {
			t.Errorf("%s: NextClose(%s) = %s, %v; want %s", tc.name, tc.at, closeAt, err, tc.close.UTC())
		}
	}
}

func TestLastSession(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name string
		at   time.Time
		want time.Time // Session.Date
	}{
		{"at close: today", ny(t, 2026, 11, 24, 16, 0, 0), date(2026, 11, 24)},
		{"one second before close: yesterday", ny(t, 2026, 11, 24, 15, 59, 59), date(2026, 11, 23)},
		{"evening: today", ny(t, 2026, 11, 24, 21, 0, 0), date(2026, 11, 24)},
		{"after midnight UTC, still the New York evening", utcAt(2026, 11, 25, 2, 0), date(2026, 11, 24)},
		{"Sunday: Friday", ny(t, 2026, 11, 22, 12, 0, 0), date(2026, 11, 20)},
		{"Thanksgiving: Wednesday", ny(t, 2026, 11, 26, 18, 0, 0), date(2026, 11, 25)},
		{"after an early close", ny(t, 2026, 11, 27, 13, 0, 0), date(2026, 11, 27)},
		{"Tuesday morning after MLK day: Friday", ny(t, 2026, 1, 20, 8, 0, 0), date(2026, 1, 16)},
	} {
		s, err := c.LastSession(tc.at)
		if err != nil || !s.Date.Equal(tc.want) || s.Close.After(tc.at) {
			t.Errorf("%s: LastSession(%s) = %+v, %v; want date %s", tc.name, tc.at, s, err, tc.want)
		}
	}
}

func TestSessions(t *testing.T) {
	c := newCalendar(t)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"2001, closed four days after September 11", date(2001, 1, 1), date(2001, 12, 31), 248},
		{"2012, closed two days for Hurricane Sandy", date(2012, 1, 1), date(2012, 12, 31), 250},
		{"2025", date(2025, 1, 1), date(2025, 12, 31), 250},
		{"2026", date(2026, 1, 1), date(2026, 12, 31), 251},
		{"2027", date(2027, 1, 1), date(2027, 12, 31), 251},
		{"Thanksgiving week", date(2026, 11, 23), date(2026, 11, 29), 4},
		{"one day, both ends inclusive", date(2026, 11, 27), date(2026, 11, 27), 1},
		{"a holiday", date(2026, 11, 26), date(2026, 11, 26), 0},
		{"from after to", date(2026, 11, 27), date(2026, 11, 23), 0},
	} {
		got, err := c.Sessions(tc.from, tc.to)
		if err != nil || len(got) != tc.want || got == nil {
			t.Errorf("%s: Sessions(%s, %s) = %d sessions, %v; want %d", tc.name, tc.from, tc.to, len(got), err, tc.want)
			continue
		}
		for i := 1; i < len(got); i++ {
			if !got[i].Date.After(got[i-1].Date) {
				t.Errorf("%s: sessions out of order at %d: %s then %s", tc.name, i, got[i-1].Date, got[i].Date)
			}
		}
	}
}

func TestNotCovered(t *testing.T) {
	c := newCalendar(t)
	in2030 := ny(t, 2030, 6, 3, 12, 0, 0)
	for _, tc := range []struct {
		name string
		call func() error
		year string
	}{
		{"SessionOn", func() error { _, _, err := c.SessionOn(in2030); return err }, "2030"},
		{"IsOpen", func() error { _, err := c.IsOpen(in2030); return err }, "2030"},
		{"NextOpen", func() error { _, err := c.NextOpen(in2030); return err }, "2030"},
		{"NextClose", func() error { _, err := c.NextClose(in2030); return err }, "2030"},
		{"LastSession", func() error { _, err := c.LastSession(in2030); return err }, "2030"},
		{"Sessions to 2030", func() error { _, err := c.Sessions(date(2027, 12, 1), in2030); return err }, "2030"},
		{"Sessions from 1999", func() error { _, err := c.Sessions(date(1999, 12, 1), date(2000, 1, 31)); return err }, "1999"},
		{"NextOpen runs off the end", func() error { _, err := c.NextOpen(ny(t, 2027, 12, 31, 16, 0, 0)); return err }, "2028"},
		{"LastSession runs off the start", func() error { _, err := c.LastSession(ny(t, 2000, 1, 3, 9, 0, 0)); return err }, "1999"},
		{"IsOpen in New York's 1999, UTC's 2000", func() error { _, err := c.IsOpen(utcAt(2000, 1, 1, 2, 0)); return err }, "1999"},
	} {
		err := tc.call()
		if !errors.Is(err, ErrNotCovered) {
			t.Errorf("%s: error %v, want ErrNotCovered", tc.name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "year "+tc.year) || !strings.Contains(msg, "calendar/nyse_sessions.txt") {
			t.Errorf("%s: error %q should name year %s and calendar/nyse_sessions.txt", tc.name, msg, tc.year)
		}
	}
}

func TestCovers(t *testing.T) {
	first, last := newCalendar(t).Covers()
	if first > 2000 || last < 2027 {
		t.Errorf("Covers() = %d, %d; want at least 2000-2027", first, last)
	}
}

func TestBadTimeZone(t *testing.T) {
	_, err := newNYSE("Nowhere/Atlantis", nyseSessions)
	if err == nil || !strings.Contains(err.Error(), "Nowhere/Atlantis") {
		t.Errorf("newNYSE with a bad zone: error %v, want one naming the zone", err)
	}
}

// TestConcurrentUse lets the race detector check that an NYSE is read-only.
func TestConcurrentUse(t *testing.T) {
	c := newCalendar(t)
	start := ny(t, 2026, 1, 2, 0, 0, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for h := range 24 * 30 {
				at := start.Add(time.Duration(g*24*30+h) * time.Hour)
				if _, err := c.IsOpen(at); err != nil {
					t.Errorf("IsOpen(%s): %v", at, err)
				}
				if _, err := c.NextOpen(at); err != nil {
					t.Errorf("NextOpen(%s): %v", at, err)
				}
			}
		})
	}
	wg.Wait()
}
