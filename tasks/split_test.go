package tasks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func formatWindows(ws []Window) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = stamp(w.From) + "/" + stamp(w.To)
	}
	return strings.Join(parts, " ")
}

func TestSplitWindow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		iv       market.Interval
		from, to string
		maxBars  int
		want     []string // "from/to" per window
	}{
		{
			// 2024-01-01 is day 19723 since the epoch; the grid of 4 days has a
			// boundary at day 19724 = 2024-01-02.
			name: "daily on the 4-day grid", iv: market.Interval1d,
			from: "2024-01-01T00:00:00Z", to: "2024-01-11T00:00:00Z", maxBars: 4,
			want: []string{
				"2024-01-01T00:00:00Z/2024-01-02T00:00:00Z",
				"2024-01-02T00:00:00Z/2024-01-06T00:00:00Z",
				"2024-01-06T00:00:00Z/2024-01-10T00:00:00Z",
				"2024-01-10T00:00:00Z/2024-01-11T00:00:00Z",
			},
		},
		{
			name: "daily, unaligned ends: from floored, to kept", iv: market.Interval1d,
			from: "2024-01-02T15:04:05Z", to: "2024-01-07T12:00:00Z", maxBars: 4,
			want: []string{
				"2024-01-02T00:00:00Z/2024-01-06T00:00:00Z",
				"2024-01-06T00:00:00Z/2024-01-07T12:00:00Z",
			},
		},
		{
			name: "daily, one bar per window", iv: market.Interval1d,
			from: "2024-01-01T00:00:00Z", to: "2024-01-03T00:00:00Z", maxBars: 1,
			want: []string{
				"2024-01-01T00:00:00Z/2024-01-02T00:00:00Z",
				"2024-01-02T00:00:00Z/2024-01-03T00:00:00Z",
			},
		},
		{
			name: "range inside one grid cell is one window", iv: market.Interval1d,
			from: "2024-01-02T00:00:00Z", to: "2024-01-05T00:00:00Z", maxBars: 4,
			want: []string{"2024-01-02T00:00:00Z/2024-01-05T00:00:00Z"},
		},
		{
			// Weekly bars start on Mondays; 2024-01-01 is week 2818 counted from
			// 1969-12-29, so the 4-week grid has a boundary at 2024-01-15.
			name: "weekly from a Wednesday", iv: market.Interval1wk,
			from: "2024-01-03T00:00:00Z", to: "2024-02-05T00:00:00Z", maxBars: 4,
			want: []string{
				"2024-01-01T00:00:00Z/2024-01-15T00:00:00Z",
				"2024-01-15T00:00:00Z/2024-02-05T00:00:00Z",
			},
		},
		{
			name: "monthly, 12 bars per window is calendar years", iv: market.Interval1mo,
			from: "2023-06-15T00:00:00Z", to: "2025-03-01T00:00:00Z", maxBars: 12,
			want: []string{
				"2023-06-01T00:00:00Z/2024-01-01T00:00:00Z",
				"2024-01-01T00:00:00Z/2025-01-01T00:00:00Z",
				"2025-01-01T00:00:00Z/2025-03-01T00:00:00Z",
			},
		},
		{
			name: "monthly before 1970", iv: market.Interval1mo,
			from: "1965-03-01T00:00:00Z", to: "1966-02-01T00:00:00Z", maxBars: 12,
			want: []string{
				"1965-03-01T00:00:00Z/1966-01-01T00:00:00Z",
				"1966-01-01T00:00:00Z/1966-02-01T00:00:00Z",
			},
		},
		{
			name: "quarterly from mid-quarter", iv: market.Interval3mo,
			from: "2023-05-10T00:00:00Z", to: "2024-08-01T00:00:00Z", maxBars: 4,
			want: []string{
				"2023-04-01T00:00:00Z/2024-01-01T00:00:00Z",
				"2024-01-01T00:00:00Z/2024-08-01T00:00:00Z",
			},
		},
		{
			name: "5m, 12 bars per window is hours", iv: market.Interval5m,
			from: "2024-03-15T13:32:00Z", to: "2024-03-15T15:10:00Z", maxBars: 12,
			want: []string{
				"2024-03-15T13:30:00Z/2024-03-15T14:00:00Z",
				"2024-03-15T14:00:00Z/2024-03-15T15:00:00Z",
				"2024-03-15T15:00:00Z/2024-03-15T15:10:00Z",
			},
		},
		{
			name: "90m, 16 bars per window is days", iv: market.Interval90m,
			from: "2024-03-15T22:00:00Z", to: "2024-03-16T03:00:00Z", maxBars: 16,
			want: []string{
				"2024-03-15T21:00:00Z/2024-03-16T00:00:00Z",
				"2024-03-16T00:00:00Z/2024-03-16T03:00:00Z",
			},
		},
		{
			name: "non-UTC input comes back in UTC", iv: market.Interval60m,
			from: "2024-03-15T09:30:00-04:00", to: "2024-03-15T16:00:00-04:00", maxBars: 4,
			want: []string{
				"2024-03-15T13:00:00Z/2024-03-15T16:00:00Z",
				"2024-03-15T16:00:00Z/2024-03-15T20:00:00Z",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := mustTime(t, tc.from), mustTime(t, tc.to)
			got, err := SplitWindow(tc.iv, from, to, tc.maxBars)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := formatWindows(got), strings.Join(tc.want, " "); g != w {
				t.Fatalf("SplitWindow =\n  %s\nwant\n  %s", g, w)
			}
			for _, w := range got {
				if w.From.Location() != time.UTC || w.To.Location() != time.UTC {
					t.Fatalf("window %v not in UTC", w)
				}
			}
			if n, err := CountWindows(tc.iv, from, to, tc.maxBars); err != nil || n != len(got) {
				t.Fatalf("CountWindows = %d, %v; want %d", n, err, len(got))
			}
		})
	}
}

func TestSplitWindowRejects(t *testing.T) {
	jan, feb := jan1, feb1
	for _, tc := range []struct {
		name     string
		iv       market.Interval
		from, to time.Time
		maxBars  int
		field    string
	}{
		{"from equals to", market.Interval1d, jan, jan, 10, "from/to"},
		{"from after to", market.Interval1d, feb, jan, 10, "from/to"},
		{"zero times", market.Interval1d, time.Time{}, time.Time{}, 10, "from/to"},
		{"before 1900", market.Interval1d, time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), jan, 10, "from/to"},
		// 5-day bars are counted from the epoch: the one containing
		// 1900-01-01 starts on 1899-12-30.
		{"first bar before 1900", market.Interval5d, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), jan, 10, "from/to"},
		{"after 2200", market.Interval1d, jan, time.Date(2200, 1, 2, 0, 0, 0, 0, time.UTC), 10, "from/to"},
		{"zero bars", market.Interval1d, jan, feb, 0, "max bars"},
		{"negative bars", market.Interval1d, jan, feb, -1, "max bars"},
		{"MaxBarsPerTask", market.Interval1d, jan, feb, MaxBarsPerTask, "max bars"},
		{"alias interval", market.Interval("1h"), jan, feb, 10, "interval"},
		{"unknown interval", market.Interval("7m"), jan, feb, 10, "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := SplitWindow(tc.iv, tc.from, tc.to, tc.maxBars)
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("SplitWindow = %d windows, %v; want an invalid %s error", len(ws), err, tc.field)
			}
			if _, cerr := CountWindows(tc.iv, tc.from, tc.to, tc.maxBars); cerr == nil || cerr.Error() != err.Error() {
				t.Fatalf("CountWindows error %v, want %v", cerr, err)
			}
		})
	}
}

// TestSplitWindowAtTheCapMakesValidTasks splits ranges long enough to fill
// windows of MaxWindowBars and checks that every window is a valid task.
func TestSplitWindowAtTheCapMakesValidTasks(t *testing.T) {
	for _, tc := range []struct {
		iv       market.Interval
		from, to time.Time
	}{
		{market.Interval1d, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC)},
		{market.Interval1m, jan1, jan1.AddDate(0, 0, 100)},
		{market.Interval60m, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		{market.Interval1mo, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2199, 12, 1, 0, 0, 0, 0, time.UTC)},
	} {
		ws, err := SplitWindow(tc.iv, tc.from, tc.to, MaxWindowBars)
		if err != nil {
			t.Fatalf("%s: %v", tc.iv, err)
		}
		full := 0
		for _, w := range ws {
			if countBars(tc.iv, w) == MaxWindowBars {
				full++
			}
			task := NewCollect("AAPL", tc.iv, w.From, w.To, "test", jan1)
			if err := task.Validate(); err != nil {
				t.Fatalf("%s window %s/%s: %v", tc.iv, stamp(w.From), stamp(w.To), err)
			}
		}
		if tc.iv != market.Interval1mo && full == 0 {
			t.Fatalf("%s: no window holds %d bars; the test does not test the cap", tc.iv, MaxWindowBars)
		}
	}
}

// countBars counts the bar starts in w by stepping, independently of the
// grid arithmetic under test.
func countBars(iv market.Interval, w Window) int {
	n := 0
	for t := iv.Ceil(w.From); t.Before(w.To); t = iv.Next(t) {
		n++
	}
	return n
}

var allIntervals = []market.Interval{
	market.Interval1m, market.Interval2m, market.Interval5m, market.Interval15m,
	market.Interval30m, market.Interval60m, market.Interval90m, market.Interval1d,
	market.Interval5d, market.Interval1wk, market.Interval1mo, market.Interval3mo,
}

// randomRange returns a random range of at most about maxSpan bars of iv
// (and at most 250 years) between 1900 and 2190, with ends that are usually
// not on bar boundaries.
func randomRange(r *rand.Rand, iv market.Interval, maxSpan int) (from, to time.Time) {
	n := min(1+r.IntN(maxSpan), int(250*365*24*time.Hour/iv.Step()))
	span := time.Duration(n) * iv.Step()
	lo := time.Date(1900, 2, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2190, 1, 1, 0, 0, 0, 0, time.UTC).Add(-span)
	from = lo.Add(time.Duration(r.Int64N(int64(hi.Sub(lo)))))
	if r.IntN(4) == 0 {
		from = iv.Floor(from)
	}
	to = from.Add(span - time.Duration(r.Int64N(int64(iv.Step()))))
	if r.IntN(4) == 0 {
		to = iv.Ceil(to)
	}
	return from, to
}

func TestSplitWindowProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < 600; i++ {
		iv := allIntervals[r.IntN(len(allIntervals))]
		from, to := randomRange(r, iv, 2000)
		maxBars := 1 + r.IntN(300)
		name := fmt.Sprintf("%s %s/%s max %d", iv, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), maxBars)
		ws, err := SplitWindow(iv, from, to, maxBars)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertSplit(t, name, iv, from, to, maxBars, ws)
		again, _ := SplitWindow(iv, from, to, maxBars)
		if formatWindows(again) != formatWindows(ws) {
			t.Fatalf("%s: not deterministic", name)
		}
		if n, err := CountWindows(iv, from, to, maxBars); err != nil || n != len(ws) {
			t.Fatalf("%s: CountWindows = %d, %v; SplitWindow made %d", name, n, err, len(ws))
		}
	}
}

func assertSplit(t *testing.T, name string, iv market.Interval, from, to time.Time, maxBars int, ws []Window) {
	t.Helper()
	if len(ws) == 0 {
		t.Fatalf("%s: no windows", name)
	}
	if !ws[0].From.Equal(iv.Floor(from)) || !ws[len(ws)-1].To.Equal(to) {
		t.Fatalf("%s: windows cover %s/%s, want %s/%s", name,
			stamp(ws[0].From), stamp(ws[len(ws)-1].To), stamp(iv.Floor(from)), stamp(to))
	}
	for i, w := range ws {
		if i > 0 && !w.From.Equal(ws[i-1].To) {
			t.Fatalf("%s: gap or overlap between windows %d and %d", name, i-1, i)
		}
		if !iv.Floor(w.From).Equal(w.From) {
			t.Fatalf("%s: window %d starts off a bar boundary at %s", name, i, stamp(w.From))
		}
		if n := countBars(iv, w); n < 1 || n > maxBars {
			t.Fatalf("%s: window %d (%s/%s) holds %d bars, want 1..%d", name, i, stamp(w.From), stamp(w.To), n, maxBars)
		}
		if err := NewCollect("AAPL", iv, w.From, w.To, "test", jan1).Validate(); err != nil {
			t.Fatalf("%s: window %d: %v", name, i, err)
		}
	}
}

// TestSplitWindowOverlappingRangesShareWindows is why the grid exists: a
// backfill of a range that moved (a relative --range run again later)
// re-creates the same windows, hence the same message ids, except at its
// two ends.
func TestSplitWindowOverlappingRangesShareWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	checked := 0
	for i := 0; i < 200; i++ {
		iv := allIntervals[r.IntN(len(allIntervals))]
		from, to := randomRange(r, iv, 3000)
		maxBars := 1 + r.IntN(200)
		shift := min(time.Duration(r.IntN(500))*iv.Step(), 5*365*24*time.Hour)
		a, err := SplitWindow(iv, from, to, maxBars)
		if err != nil {
			t.Fatal(err)
		}
		b, err := SplitWindow(iv, from.Add(shift), to.Add(shift), maxBars)
		if err != nil {
			t.Fatal(err)
		}
		inA := map[Window]bool{}
		for _, w := range a {
			inA[w] = true
		}
		for j, w := range b {
			if j == 0 || j == len(b)-1 || w.To.After(to) {
				continue // an end of b, or not inside a
			}
			checked++
			if !inA[w] {
				t.Fatalf("%s max %d shift %s: window %s/%s lies inside the first range but is not one of its windows",
					iv, maxBars, shift, stamp(w.From), stamp(w.To))
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d shared windows checked: the ranges hardly overlap", checked)
	}
}
