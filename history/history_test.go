package history_test

import (
	"errors"
	"testing"
	"time"

	"marketfleet/calendar"
	"marketfleet/history"
	"marketfleet/market"
	"marketfleet/store"
)

var _ store.Expectation = (*history.Policy)(nil)

func policy(t *testing.T, settle *int, intraday time.Duration) *history.Policy {
	t.Helper()
	cal, err := calendar.NewNYSE()
	if err != nil {
		t.Fatal(err)
	}
	p, err := history.New(history.Config{Calendar: cal, SettleSessions: settle, SettleIntraday: intraday})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestExchange(t *testing.T) {
	if history.US != store.USExchange {
		t.Fatalf("history.US %q and store.USExchange %q differ", history.US, store.USExchange)
	}
	for sym, want := range map[string]string{
		"AAPL": "US", "BRK-B": "US", "^GSPC": "US", "7203.T": "T", "GS2C.DE": "DE", "M&M.NS": "NS",
		"EURUSD=X": "FX", "ES=F": "FUTURES", "BTC-USD": "CRYPTO", "0P0000XTS7": "US",
	} {
		if got := history.Exchange(sym); got != want {
			t.Errorf("Exchange(%q) = %q, want %q", sym, got, want)
		}
	}
}

func TestFinalAt(t *testing.T) {
	two, zero := 2, 0
	p, p0 := policy(t, &two, 0), policy(t, &zero, 15*time.Minute)
	d := func(sym string, iv market.Interval) market.Series { return market.Series{Symbol: sym, Interval: iv} }
	for _, tc := range []struct {
		name string
		p    *history.Policy
		s    market.Series
		ts   time.Time
		want time.Time
	}{
		// Wednesday 2024-06-12: final at Friday's close (16:00 New York).
		{"daily, two sessions later", p, d("AAPL", "1d"), utc(2024, 6, 12, 0, 0), utc(2024, 6, 14, 20, 0)},
		// Thursday 2024-06-13: Friday, then Monday (Juneteenth is Wednesday).
		{"daily over a weekend", p, d("AAPL", "1d"), utc(2024, 6, 13, 0, 0), utc(2024, 6, 17, 20, 0)},
		// Tuesday 2024-06-18: Thursday 20th, Friday 21st (19th closed).
		{"daily over a holiday", p, d("AAPL", "1d"), utc(2024, 6, 18, 0, 0), utc(2024, 6, 21, 20, 0)},
		// Friday after Thanksgiving closes at 13:00: with no settling,
		// final at that close.
		{"early close, no settling", p0, d("AAPL", "1d"), utc(2024, 11, 29, 0, 0), utc(2024, 11, 29, 18, 0)},
		// A weekly bar: its last session Friday June 14, then two more.
		{"weekly", p, d("AAPL", "1wk"), utc(2024, 6, 10, 0, 0), utc(2024, 6, 18, 20, 0)},
		// A 5m bar ends at its end, plus the intraday settling.
		{"intraday", p0, d("AAPL", "5m"), utc(2024, 6, 12, 14, 30), utc(2024, 6, 12, 14, 50)},
		// A 60m bar that runs past the 13:00 early close ends at the close.
		{"intraday at an early close", p, d("AAPL", "60m"), utc(2024, 11, 29, 17, 30), utc(2024, 11, 29, 18, 0)},
		// A Saturday bar (the synthetic source has them): final at its end.
		{"no session", p, d("AAPL", "1d"), utc(2024, 6, 15, 0, 0), utc(2024, 6, 16, 0, 0)},
		// Elsewhere: 12 hours after the UTC day, plus two weekdays.
		{"other exchange", p, d("7203.T", "1d"), utc(2024, 6, 13, 0, 0), utc(2024, 6, 18, 12, 0)},
		// Beyond the calendar's years: the same fallback.
		{"not covered", p, d("AAPL", "1d"), utc(1999, 6, 9, 0, 0), utc(1999, 6, 14, 12, 0)},
	} {
		if got := tc.p.FinalAt(tc.s, tc.ts); !got.Equal(tc.want) {
			t.Errorf("%s: FinalAt(%s %s) = %s, want %s", tc.name, tc.s, tc.ts.Format(time.RFC3339), got.Format(time.RFC3339), tc.want.Format(time.RFC3339))
		}
	}
	s := d("AAPL", "1d")
	if got := p.ProvisionalUntil(s, utc(2024, 6, 12, 0, 0), utc(2024, 6, 12, 15, 0)); !got.Equal(utc(2024, 6, 14, 20, 0)) {
		t.Errorf("fetched during the session: provisional until %s", got)
	}
	if got := p.ProvisionalUntil(s, utc(2024, 6, 12, 0, 0), utc(2024, 6, 14, 20, 0)); !got.IsZero() {
		t.Errorf("fetched at the final instant: provisional until %s, want final", got)
	}
	if got := p.ProvisionalUntil(s, utc(2020, 6, 12, 0, 0), utc(2024, 6, 14, 20, 0)); !got.IsZero() {
		t.Errorf("years old: provisional until %s, want final", got)
	}
}

func TestExpected(t *testing.T) {
	p := policy(t, nil, 0)
	// July 2024: 22 sessions (Independence Day closed, July 3 an early
	// close but a session).
	got, err := p.Expected(market.Interval1d, utc(2024, 7, 1, 0, 0), utc(2024, 8, 1, 0, 0))
	if err != nil || len(got) != 22 || !got[0].Equal(utc(2024, 7, 1, 0, 0)) || !got[3].Equal(utc(2024, 7, 5, 0, 0)) {
		t.Fatalf("July 2024: %d sessions %v (%v)", len(got), got, err)
	}
	// The early close of July 3 holds 13:30-17:00 UTC of 30m bars: 7.
	got, err = p.Expected(market.Interval30m, utc(2024, 7, 3, 0, 0), utc(2024, 7, 4, 0, 0))
	if err != nil || len(got) != 7 || !got[0].Equal(utc(2024, 7, 3, 13, 30)) {
		t.Fatalf("30m bars of 2024-07-03: %v (%v)", got, err)
	}
	// Weekly bars start on Mondays; the week of July 4 is expected.
	got, err = p.Expected(market.Interval1wk, utc(2024, 7, 1, 0, 0), utc(2024, 7, 15, 0, 0))
	if err != nil || len(got) != 2 || !got[1].Equal(utc(2024, 7, 8, 0, 0)) {
		t.Fatalf("weeks: %v (%v)", got, err)
	}
	// From the first covered day and up to the last one, no error.
	first, last := p.Covers()
	if _, err := p.Expected(market.Interval1d, utc(first, 1, 1, 0, 0), utc(last+1, 1, 1, 0, 0)); err != nil {
		t.Fatalf("the covered years: %v", err)
	}
	if _, err := p.Expected(market.Interval1d, utc(1999, 1, 1, 0, 0), utc(1999, 2, 1, 0, 0)); !errors.Is(err, calendar.ErrNotCovered) {
		t.Fatalf("1999: %v, want ErrNotCovered", err)
	}
}

// Only the intervals whose bar keys every source shares are audited.
func TestAudits(t *testing.T) {
	p := policy(t, nil, 0)
	for _, iv := range []market.Interval{"1m", "2m", "5m", "15m", "30m", "1d"} {
		if why := p.Audits(iv); why != "" {
			t.Errorf("Audits(%s) = %q, want audited", iv, why)
		}
	}
	for _, iv := range []market.Interval{"60m", "90m", "5d", "1wk", "1mo", "3mo"} {
		if why := p.Audits(iv); why == "" {
			t.Errorf("Audits(%s) audits it; its keys differ by source", iv)
		}
	}
}

func TestConfig(t *testing.T) {
	bad := 21
	if _, err := history.New(history.Config{}); !errors.Is(err, history.ErrInvalidConfig) {
		t.Errorf("no calendar: %v", err)
	}
	cal, _ := calendar.NewNYSE()
	if _, err := history.New(history.Config{Calendar: cal, SettleSessions: &bad}); !errors.Is(err, history.ErrInvalidConfig) {
		t.Errorf("21 sessions: %v", err)
	}
	if _, err := history.New(history.Config{Calendar: cal, SettleIntraday: -time.Second}); !errors.Is(err, history.ErrInvalidConfig) {
		t.Errorf("negative intraday settling: %v", err)
	}
}
