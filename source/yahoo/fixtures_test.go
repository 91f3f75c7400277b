package yahoo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

// fetchFixture serves file and returns the bars of req. Every recorded
// real answer passes the checks the worker applies (source.Response.Check):
// they refuse garbage, not Yahoo's data.
func fetchFixture(t *testing.T, file string, req source.Request, refused ...string) []market.Bar {
	t.Helper()
	f := newFake(t, serve(fixture(t, file), http.StatusOK))
	resp, err := newClient(t, f).Fetch(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	switch err := resp.Check(req); {
	case len(refused) == 0 && err != nil:
		t.Fatalf("%s: a real answer fails the checks: %v", file, err)
	case len(refused) > 0 && (!errors.Is(err, source.ErrBadData) || !strings.Contains(fmt.Sprint(err), refused[0])):
		t.Fatalf("%s: checks = %v, want refused for %q", file, err, refused[0])
	}
	bars := resp.Bars
	if bars == nil {
		t.Fatalf("%s: nil slice, want non-nil", file)
	}
	return bars
}

// checkBars verifies the invariants every result must hold.
func checkBars(t *testing.T, bars []market.Bar, req source.Request) {
	t.Helper()
	for i, b := range bars {
		if b.Symbol != req.Symbol || b.Interval != req.Interval || b.Source != "yahoo" {
			t.Fatalf("bar %d identity = %q %q %q", i, b.Symbol, b.Interval, b.Source)
		}
		if b.TS.Location() != time.UTC || b.TS.Before(req.From) || !b.TS.Before(req.To) {
			t.Fatalf("bar %d TS %s not UTC or outside [%s, %s)", i, b.TS, req.From, req.To)
		}
		if !req.Interval.Intraday() && !b.TS.Equal(b.TS.Truncate(24*time.Hour)) {
			t.Fatalf("bar %d TS %s not at 00:00 UTC", i, b.TS)
		}
		if i > 0 && !bars[i-1].TS.Before(b.TS) {
			t.Fatalf("bars %d and %d not strictly ascending: %s, %s", i-1, i, bars[i-1].TS, b.TS)
		}
	}
}

func TestTSLAFullHistory(t *testing.T) {
	req := source.Request{Symbol: "TSLA", Interval: market.Interval1d, From: time.Unix(0, 0), To: day(2024, 1, 1)}
	bars := fetchFixture(t, "daily_TSLA_full_history_3303bars.json", req)
	checkBars(t, bars, req)
	if len(bars) != 3303 {
		t.Fatalf("got %d bars, want 3303", len(bars))
	}
	for _, tc := range []struct {
		b    market.Bar
		want market.Bar
	}{
		{bars[0], market.Bar{TS: day(2010, 6, 29), Open: 1.2666670083999634, High: 1.6666669845581055,
			Low: 1.1693329811096191, Close: 1.5926669836044312, AdjClose: ptr(1.5926669836044312), Volume: 281494500}},
		{bars[3302], market.Bar{TS: day(2023, 8, 11), Open: 241.77000427246094, High: 243.7899932861328,
			Low: 238.02000427246094, Close: 242.64999389648438, AdjClose: ptr(242.64999389648438), Volume: 98866600}},
	} {
		if err := sameValues(tc.b, tc.want); err != nil {
			t.Error(err)
		}
	}
}

// sameValues compares TS, prices, AdjClose and volume exactly.
func sameValues(got, want market.Bar) error {
	adj := func(p *float64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	g := fmt.Sprint(got.TS, got.Open, got.High, got.Low, got.Close, adj(got.AdjClose), got.Volume)
	w := fmt.Sprint(want.TS, want.Open, want.High, want.Low, want.Close, adj(want.AdjClose), want.Volume)
	if g != w {
		return fmt.Errorf("bar = %s, want %s", g, w)
	}
	return nil
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file  string
		req   source.Request
		dates []time.Time // expected TS of every bar, when listed
		count int
		check func(t *testing.T, bars []market.Bar)
		// refused is the reason the worker's checks refuse this real
		// answer (source.Response.Check); "" when it passes them.
		refused string
	}{
		{file: "daily_WSU.DE_null_row.json", req: window("WSU.DE", "1d", 1691100000, 1691600000),
			dates: []time.Time{day(2023, 8, 4), day(2023, 8, 8)}},
		{file: "daily_GS2C.DE_null_rows_live_bar.json", req: window("GS2C.DE", "1d", 1758700000, 1759400000),
			dates: []time.Time{day(2025, 9, 25), day(2025, 9, 26), day(2025, 10, 1)},
			check: func(t *testing.T, bars []market.Bar) {
				live := market.Bar{TS: day(2025, 10, 1), Open: 23.274999618530273, High: 23.274999618530273,
					Low: 22.860000610351562, Close: 23.065000534057617, AdjClose: ptr(23.065000534057617), Volume: 6723}
				if err := sameValues(bars[2], live); err != nil {
					t.Errorf("live bar: %v", err)
				}
			}},
		{file: "daily_0P0000XTS7_fund_null_row.json", req: window("0P0000XTS7", "1d", 1726000000, 1726300000),
			dates: []time.Time{day(2024, 9, 12)}},
		// Yahoo's own answer holds a quarter whose low is 0 (2025-04):
		// garbage, so the worker refuses the answer whole.
		{file: "3mo_VFINX_events_null_row.json", req: source.Request{Symbol: "VFINX", Interval: "3mo", From: day(1985, 1, 1), To: day(2025, 10, 2)},
			count: 163, refused: "VFINX 3mo 2025-04-01T00:00:00Z: low 0 is not positive",
			check: func(t *testing.T, bars []market.Bar) {
				first := market.Bar{TS: day(1985, 1, 1), Open: 19.309999465942383, High: 21.530000686645508,
					Low: 19.110000610351562, Close: 21.110000610351562, AdjClose: ptr(8.344539642333984)}
				if err := sameValues(bars[0], first); err != nil {
					t.Errorf("first: %v", err)
				}
				if got := bars[len(bars)-1].TS; !got.Equal(day(2025, 7, 1)) {
					t.Errorf("last TS = %s, want 2025-07-01 (the null 2025-10-01 row skipped)", got)
				}
			}},
		{file: "daily_EURUSDX_fx.json", req: window("EURUSD=X", "1d", 1577836800, 1578096000),
			dates: []time.Time{day(2020, 1, 1), day(2020, 1, 2), day(2020, 1, 3)},
			check: func(t *testing.T, bars []market.Bar) {
				for _, b := range bars {
					if b.Volume != 0 || b.Close < 1.1 || b.Close > 1.13 {
						t.Errorf("bar %s: volume %d close %v, want 0 and about 1.12", b.TS, b.Volume, b.Close)
					}
				}
			}},
		{file: "daily_BTC-USD_crypto.json", req: window("BTC-USD", "1d", 1577836800, 1578096000),
			dates: []time.Time{day(2020, 1, 1), day(2020, 1, 2), day(2020, 1, 3)},
			check: func(t *testing.T, bars []market.Bar) {
				want := []int64{18565664997, 20802083465, 28111481032}
				for i, b := range bars {
					if b.Volume != want[i] || b.Volume <= 1<<32 {
						t.Errorf("bar %d volume = %d, want %d (> 2^32)", i, b.Volume, want[i])
					}
				}
			}},
		{file: "daily_VXAPL_index_no_timestamp.json", req: window("^VXAPL", "1d", 1637000000, 1637400000)},
		{file: "intraday_1m_AAPL_391bars.json", req: window("AAPL", "1m", 1727875800, 1727899200), // the regular session of 2024-10-02
			count: 389, // 391 rows, less one null row, less the 2024-10-03T20:00Z bar past the period
			check: func(t *testing.T, bars []market.Bar) {
				first := market.Bar{TS: time.Unix(1727875800, 0).UTC(), Open: 225.88999938964844, High: 226.11000061035156,
					Low: 225.4199981689453, Close: 225.6999969482422, Volume: 1205461}
				if err := sameValues(bars[0], first); err != nil {
					t.Errorf("first: %v", err)
				}
				if got := bars[len(bars)-1].TS; !got.Equal(time.Unix(1727899140, 0)) {
					t.Errorf("last TS = %s, want 2024-10-02T19:59Z", got)
				}
			}},
		{file: "intraday_1m_AAPL_391bars.json", req: window("AAPL", "1m", 1727875800, 1727985660),
			count: 390}, // a window that reaches the extra bar keeps it
		{file: "intraday_30m_TSLA_prepost.json", req: window("TSLA", "30m", 1637571600, 1637625600),
			count: 30,
			check: func(t *testing.T, bars []market.Bar) {
				if !bars[0].TS.Equal(time.Unix(1637571600, 0)) || !bars[29].TS.Equal(time.Unix(1637623800, 0)) {
					t.Errorf("span %s..%s, want the raw timestamps", bars[0].TS, bars[29].TS)
				}
				if bars[0].Low != 1147 { // recorded as the integer 1147
					t.Errorf("first low = %v, want 1147", bars[0].Low)
				}
			}},
		{file: "intraday_5m_TNX_index.json", req: window("^TNX", "5m", 1770057900, 1770062400), count: 15},
	} {
		t.Run(tc.file+"/"+string(tc.req.Interval), func(t *testing.T) {
			var refused []string
			if tc.refused != "" {
				refused = append(refused, tc.refused)
			}
			bars := fetchFixture(t, tc.file, tc.req, refused...)
			checkBars(t, bars, tc.req)
			want := tc.count
			if tc.dates != nil {
				want = len(tc.dates)
			}
			if len(bars) != want {
				t.Fatalf("got %d bars, want %d", len(bars), want)
			}
			for i, d := range tc.dates {
				if !bars[i].TS.Equal(d) {
					t.Errorf("bar %d TS = %s, want %s", i, bars[i].TS, d)
				}
			}
			if tc.req.Interval.Intraday() {
				for i, b := range bars {
					if b.AdjClose != nil {
						t.Fatalf("intraday bar %d has AdjClose %v, want nil", i, *b.AdjClose)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, bars)
			}
		})
	}
}
