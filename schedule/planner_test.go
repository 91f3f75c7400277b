package schedule

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"marketfleet/calendar"
	"marketfleet/market"
	"marketfleet/tasks"
)

func newCalendar(t *testing.T) *calendar.NYSE {
	t.Helper()
	c, err := calendar.NewNYSE()
	if err != nil {
		t.Fatalf("NewNYSE: %v", err)
	}
	return c
}

// ny returns the instant New York clocks read s ("2006-01-02 15:04").
func ny(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load America/New_York: %v", err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func entries(t *testing.T, universe string) []market.UniverseEntry {
	t.Helper()
	es, err := market.ParseUniverse(strings.NewReader(universe), market.Interval1d)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func newPlanner(t *testing.T, universe string, marketHours bool) *Planner {
	t.Helper()
	p, err := New(Config{Entries: entries(t, universe), MarketHours: marketHours, Calendar: newCalendar(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// describe renders ticks as "IV@AT FROM/TO", all in UTC.
func describe(ticks []Tick) string {
	parts := make([]string, len(ticks))
	for i, tk := range ticks {
		parts[i] = fmt.Sprintf("%s@%s %s/%s", tk.Interval, stamp(tk.At), stamp(tk.From), stamp(tk.To))
	}
	return strings.Join(parts, ", ")
}

func TestDue(t *testing.T) {
	const intraday = "AAPL 5m\nMSFT 5m\nSPY 60m"
	for _, tc := range []struct {
		name        string
		universe    string
		marketHours bool
		after, now  time.Time
		ticks       string // describe(plan.Ticks)
		next        time.Time
	}{
		{
			name: "5m bar closes during a session", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-24 10:00"), now: ny(t, "2026-11-24 10:05"),
			ticks: "5m@2026-11-24T15:05:00Z 2026-11-24T14:40:00Z/2026-11-24T15:05:00Z",
			next:  ny(t, "2026-11-24 10:10"),
		},
		{
			name: "60m bar overlapping the open ticks at 10:00 NY", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-24 09:55"), now: ny(t, "2026-11-24 10:00"),
			ticks: "5m@2026-11-24T15:00:00Z 2026-11-24T14:35:00Z/2026-11-24T15:00:00Z, " +
				"60m@2026-11-24T15:00:00Z 2026-11-24T10:00:00Z/2026-11-24T15:00:00Z",
			next: ny(t, "2026-11-24 10:05"),
		},
		{
			name: "nothing before the open", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-24 09:20"), now: ny(t, "2026-11-24 09:25"),
			next: ny(t, "2026-11-24 09:35"),
		},
		{
			name: "first tick closes the first bar", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-24 09:30"), now: ny(t, "2026-11-24 09:35"),
			ticks: "5m@2026-11-24T14:35:00Z 2026-11-24T14:10:00Z/2026-11-24T14:35:00Z",
			next:  ny(t, "2026-11-24 09:40"),
		},
		{
			name: "last tick of a regular session, then the next morning", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-24 15:59"), now: ny(t, "2026-11-24 16:00"),
			ticks: "5m@2026-11-24T21:00:00Z 2026-11-24T20:35:00Z/2026-11-24T21:00:00Z, " +
				"60m@2026-11-24T21:00:00Z 2026-11-24T16:00:00Z/2026-11-24T21:00:00Z",
			next: ny(t, "2026-11-25 09:35"),
		},
		{
			name: "nothing on a Saturday, next on Monday", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-28 11:55"), now: ny(t, "2026-11-28 12:00"),
			next: ny(t, "2026-11-30 09:35"),
		},
		{
			name: "nothing on Thanksgiving, next on the early-close day", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-26 10:55"), now: ny(t, "2026-11-26 11:00"),
			next: ny(t, "2026-11-27 09:35"),
		},
		{
			name: "early close: the 13:00 bar close is the last", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-27 12:55"), now: ny(t, "2026-11-27 13:00"),
			ticks: "5m@2026-11-27T18:00:00Z 2026-11-27T17:35:00Z/2026-11-27T18:00:00Z, " +
				"60m@2026-11-27T18:00:00Z 2026-11-27T13:00:00Z/2026-11-27T18:00:00Z",
			next: ny(t, "2026-11-30 09:35"),
		},
		{
			name: "early close: nothing at 13:05", universe: intraday, marketHours: true,
			after: ny(t, "2026-11-27 13:00"), now: ny(t, "2026-11-27 13:05"),
			next: ny(t, "2026-11-30 09:35"),
		},
		{
			name: "daily: not before the EOD run", universe: "AAPL\nMSFT", marketHours: true,
			after: ny(t, "2026-11-24 16:00"), now: ny(t, "2026-11-24 16:29"),
			next: ny(t, "2026-11-24 16:30"),
		},
		{
			name: "daily: EOD run, window ends with the trading date", universe: "AAPL\nMSFT", marketHours: true,
			after: ny(t, "2026-11-24 16:29"), now: ny(t, "2026-11-24 16:30"),
			ticks: "1d@2026-11-24T21:30:00Z 2026-11-20T00:00:00Z/2026-11-25T00:00:00Z",
			next:  ny(t, "2026-11-25 16:30"),
		},
		{
			name: "daily: Thanksgiving skipped, early-close day runs at 16:30", universe: "AAPL", marketHours: true,
			after: ny(t, "2026-11-25 16:29"), now: ny(t, "2026-11-25 16:30"),
			ticks: "1d@2026-11-25T21:30:00Z 2026-11-21T00:00:00Z/2026-11-26T00:00:00Z",
			next:  ny(t, "2026-11-27 16:30"),
		},
		{
			name: "daily: next EOD over a weekend", universe: "AAPL", marketHours: true,
			after: ny(t, "2026-11-27 16:29"), now: ny(t, "2026-11-27 16:30"),
			ticks: "1d@2026-11-27T21:30:00Z 2026-11-23T00:00:00Z/2026-11-28T00:00:00Z",
			next:  ny(t, "2026-11-30 16:30"),
		},
		{
			name: "weekly: Good Friday makes Thursday the week's last session", universe: "AAPL 1wk", marketHours: true,
			after: ny(t, "2026-04-02 16:29"), now: ny(t, "2026-04-02 16:30"),
			ticks: "1wk@2026-04-02T20:30:00Z 2026-03-02T00:00:00Z/2026-04-06T00:00:00Z",
			next:  ny(t, "2026-04-10 16:30"),
		},
		{
			name: "DST: Friday's last tick at 21:00 UTC, Monday's first at 13:35 UTC", universe: intraday, marketHours: true,
			after: ny(t, "2026-03-06 15:59"), now: ny(t, "2026-03-06 16:00"),
			ticks: "5m@2026-03-06T21:00:00Z 2026-03-06T20:35:00Z/2026-03-06T21:00:00Z, " +
				"60m@2026-03-06T21:00:00Z 2026-03-06T16:00:00Z/2026-03-06T21:00:00Z",
			next: utc(t, "2026-03-09T13:35:00Z"),
		},
		{
			name: "DST: the 60m bar overlapping the 13:30 UTC open closes at 14:00 UTC", universe: "SPY 60m", marketHours: true,
			after: utc(t, "2026-03-09T13:30:00Z"), now: utc(t, "2026-03-09T14:00:00Z"),
			ticks: "60m@2026-03-09T14:00:00Z 2026-03-09T09:00:00Z/2026-03-09T14:00:00Z",
			next:  utc(t, "2026-03-09T15:00:00Z"),
		},
		{
			name: "DST: EOD run at 20:30 UTC", universe: "AAPL", marketHours: true,
			after: ny(t, "2026-03-06 16:30"), now: ny(t, "2026-03-09 16:30"),
			ticks: "1d@2026-03-09T20:30:00Z 2026-03-05T00:00:00Z/2026-03-10T00:00:00Z",
			next:  utc(t, "2026-03-10T20:30:00Z"),
		},
		{
			name: "without market hours 5m ticks on Saturday too", universe: intraday,
			after: ny(t, "2026-11-28 11:55"), now: ny(t, "2026-11-28 12:00"),
			ticks: "5m@2026-11-28T17:00:00Z 2026-11-28T16:35:00Z/2026-11-28T17:00:00Z, " +
				"60m@2026-11-28T17:00:00Z 2026-11-28T12:00:00Z/2026-11-28T17:00:00Z",
			next: ny(t, "2026-11-28 12:05"),
		},
		{
			name: "without market hours daily ticks at midnight UTC, same window as the EOD run", universe: "AAPL",
			after: utc(t, "2026-11-24T23:59:00Z"), now: utc(t, "2026-11-25T00:00:00Z"),
			ticks: "1d@2026-11-25T00:00:00Z 2026-11-20T00:00:00Z/2026-11-25T00:00:00Z",
			next:  utc(t, "2026-11-26T00:00:00Z"),
		},
		{
			name: "a restart catches up only the latest tick after after", universe: "AAPL 5m\nAAPL", marketHours: true,
			after: ny(t, "2026-11-24 09:58"), now: ny(t, "2026-11-24 10:58"),
			ticks: "5m@2026-11-24T15:55:00Z 2026-11-24T15:30:00Z/2026-11-24T15:55:00Z",
			next:  ny(t, "2026-11-24 11:00"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlanner(t, tc.universe, tc.marketHours)
			plan, err := p.Due(tc.after, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(plan.Ticks); got != tc.ticks {
				t.Errorf("ticks:\n got %s\nwant %s", got, tc.ticks)
			}
			next, err := p.Next(tc.now)
			if err != nil || !next.Equal(tc.next) || next.Location() != time.UTC {
				t.Errorf("Next = %s, %v; want %s", next, err, tc.next.UTC())
			}
		})
	}
}

func TestDueBuildsOneValidTaskPerEntry(t *testing.T) {
	p, err := New(Config{Entries: entries(t, "AAPL 5m\nMSFT\nSPY 5m"), RequestedBy: "schedule@test"})
	if err != nil {
		t.Fatal(err)
	}
	now := utc(t, "2026-11-25T00:00:00Z") // both a 5m and a 1d boundary
	plan, err := p.Due(now.Add(-time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, task := range plan.Tasks {
		if err := task.Validate(); err != nil || task.RequestedBy != "schedule@test" || !task.RequestedAt.Equal(now) {
			t.Fatalf("task %+v: %v", task, err)
		}
		ids = append(ids, task.MsgID())
	}
	want := []string{
		"collect:AAPL:5m:2026-11-24T23:35:00Z/2026-11-25T00:00:00Z",
		"collect:SPY:5m:2026-11-24T23:35:00Z/2026-11-25T00:00:00Z",
		"collect:MSFT:1d:2026-11-20T00:00:00Z/2026-11-25T00:00:00Z",
	}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("ids %q, want %q", ids, want)
	}
}

// TestDueOverAWeek runs Due minute by minute over Thanksgiving week, as the
// scheduler's loop does, and checks every bar close is due exactly once,
// never outside a session, and announced by the previous Next.
func TestDueOverAWeek(t *testing.T) {
	p := newPlanner(t, "AAPL 5m\nMSFT", true)
	start, end := ny(t, "2026-11-23 00:00"), ny(t, "2026-11-30 00:00")
	perDay := map[string]int{}
	seen := map[string]bool{}
	after := start
	next, err := p.Next(after)
	if err != nil {
		t.Fatal(err)
	}
	for now := start.Add(time.Minute); now.Before(end); now = now.Add(time.Minute) {
		plan, err := p.Due(after, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range plan.Ticks {
			if !tk.At.Equal(now) || !tk.At.Equal(next) {
				t.Fatalf("at %s: tick %s; announced next %s", now, describe([]Tick{tk}), next)
			}
			key := describe([]Tick{tk})
			if seen[key] {
				t.Fatalf("tick %s due twice", key)
			}
			seen[key] = true
			perDay[fmt.Sprintf("%s %s", tk.Interval, now.In(start.Location()).Format("Mon"))]++
		}
		if next, err = p.Next(now); err != nil {
			t.Fatal(err)
		}
		after = now
	}
	want := map[string]int{"5m Mon": 78, "5m Tue": 78, "5m Wed": 78, "5m Fri": 42, "1d Mon": 1, "1d Tue": 1, "1d Wed": 1, "1d Fri": 1}
	if fmt.Sprint(perDay) != fmt.Sprint(want) {
		t.Fatalf("ticks per day %v, want %v", perDay, want)
	}
}

func TestOutsideTheCalendarIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name, universe string
		now            time.Time
		due            bool // Due still plans: only Next needs the uncovered year
	}{
		{"next intraday tick in an uncovered year", "AAPL 5m", ny(t, "2027-12-31 16:00"), true},
		{"next EOD run in an uncovered year", "AAPL", ny(t, "2027-12-31 16:30"), true},
		{"now in an uncovered year", "AAPL 5m", ny(t, "2031-06-02 10:00"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlanner(t, tc.universe, true)
			plan, err := p.Due(tc.now.Add(-time.Minute), tc.now)
			switch {
			case tc.due && (err != nil || len(plan.Tasks) != 1):
				t.Fatalf("Due = %d tasks, %v; want the last covered tick", len(plan.Tasks), err)
			case !tc.due && !errors.Is(err, calendar.ErrNotCovered):
				t.Fatalf("Due = %v, want an error wrapping calendar.ErrNotCovered", err)
			}
			_, err = p.Next(tc.now)
			if !errors.Is(err, calendar.ErrNotCovered) || !strings.Contains(err.Error(), "nyse_sessions.txt") {
				t.Fatalf("Next = %v, want an error wrapping calendar.ErrNotCovered naming the data file", err)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	six := entries(t, "A\nB\nC\nD\nE\nF")
	for _, tc := range []struct {
		name string
		cfg  Config
		is   error
		want string
	}{
		{"no entries", Config{}, ErrInvalidConfig, "Entries"},
		{"too many entries", Config{Entries: six, MaxEntries: 5}, ErrTooManyEntries, "6 entries, more than MaxEntries 5"},
		{"negative max entries", Config{Entries: six, MaxEntries: -1}, ErrInvalidConfig, "MaxEntries -1"},
		{"lookback too long", Config{Entries: six, Lookback: MaxLookback + 1}, ErrInvalidConfig, "Lookback 101"},
		{"EOD before the close", Config{Entries: six, EOD: 15 * time.Hour}, ErrInvalidConfig, "EOD 15h0m0s"},
		{"market hours without a calendar", Config{Entries: six, MarketHours: true}, ErrInvalidConfig, "Calendar"},
		{"requested-by too long", Config{Entries: six, RequestedBy: strings.Repeat("x", 200)}, tasks.ErrInvalid, "requested_by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, tc.is) || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error wrapping %v and ErrInvalidConfig saying %q", err, tc.is, tc.want)
			}
		})
	}
}
