package tasks

import (
	"errors"
	"testing"
	"time"

	"marketfleet/market"
)

func TestResolveWindow(t *testing.T) {
	now := time.Date(2024, 3, 15, 14, 7, 30, 0, time.UTC)
	d := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name             string
		iv               market.Interval
		rng, from, to    string
		wantFrom, wantTo string
	}{
		{"default is 1mo to end of today", market.Interval1d, "", "", "", "2024-02-16T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"5d", market.Interval1d, "5d", "", "", "2024-03-11T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"2wk", market.Interval1d, "2wk", "", "", "2024-03-02T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"1y", market.Interval1d, "1y", "", "", "2023-03-16T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"ytd", market.Interval1d, "ytd", "", "", "2024-01-01T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"max", market.Interval1wk, "max", "", "", "1970-01-01T00:00:00Z", "2024-03-18T00:00:00Z"},
		{"intraday ends with the current bar", market.Interval5m, "1d", "", "", "2024-03-14T14:10:00Z", "2024-03-15T14:10:00Z"},
		{"dates", market.Interval1d, "", "2024-01-01", "2024-02-01", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"},
		{"from only", market.Interval1d, "", "2024-03-01", "", "2024-03-01T00:00:00Z", "2024-03-16T00:00:00Z"},
		{"rfc3339 with zone", market.Interval1m, "", "2024-03-15T09:30:00-04:00", "2024-03-15T16:00:00-04:00", "2024-03-15T13:30:00Z", "2024-03-15T20:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := ResolveWindow(tc.iv, tc.rng, tc.from, tc.to, now)
			if err != nil {
				t.Fatal(err)
			}
			if !from.Equal(d(tc.wantFrom)) || !to.Equal(d(tc.wantTo)) {
				t.Fatalf("window = %s/%s, want %s/%s", from.Format(time.RFC3339), to.Format(time.RFC3339), tc.wantFrom, tc.wantTo)
			}
		})
	}
}

func TestResolveWindowIsStableWithinABar(t *testing.T) {
	a, b := time.Date(2024, 3, 15, 0, 0, 1, 0, time.UTC), time.Date(2024, 3, 15, 23, 59, 59, 0, time.UTC)
	f1, t1, _ := ResolveWindow(market.Interval1d, "1mo", "", "", a)
	f2, t2, _ := ResolveWindow(market.Interval1d, "1mo", "", "", b)
	if !f1.Equal(f2) || !t1.Equal(t2) {
		t.Fatalf("same day, different windows: %s/%s vs %s/%s", f1, t1, f2, t2)
	}
}

func TestResolveWindowRejects(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct{ rng, from, to, field string }{
		{"1mo", "2024-01-01", "", "range"},
		{"1month", "", "", "range"},
		{"0d", "", "", "range"},
		{"-1d", "", "", "range"},
		{"", "yesterday", "", "from"},
		{"", "2024-01-01", "2024-13-01", "to"},
		{"", "", "2024-01-01", "from"},
	} {
		_, _, err := ResolveWindow(market.Interval1d, tc.rng, tc.from, tc.to, now)
		var fe *FieldError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("ResolveWindow(%q, %q, %q) = %v, want invalid %s", tc.rng, tc.from, tc.to, err, tc.field)
		}
	}
}
