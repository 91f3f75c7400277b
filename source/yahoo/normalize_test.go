package yahoo

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

func TestTradingDate(t *testing.T) {
	load := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	for _, tc := range []struct {
		name string
		ts   int64
		loc  *time.Location
		want time.Time
	}{
		{"NYSE open", 1277818200, load("America/New_York"), day(2010, 6, 29)},
		{"Xetra open", 1758783600, load("Europe/Berlin"), day(2025, 9, 25)},
		{"Xetra live bar", 1759321976, load("Europe/Berlin"), day(2025, 10, 1)},
		{"quarterly at local midnight", 473403600, load("America/New_York"), day(1985, 1, 1)},
		{"Tokyo open is 00:00Z", 1710115200, load("Asia/Tokyo"), day(2024, 3, 11)},
		{"Sydney open is the previous UTC day", 1710111600, load("Australia/Sydney"), day(2024, 3, 11)},
		{"fixed zone", 1710111600, time.FixedZone("", 11*3600), day(2024, 3, 11)},
		{"UTC", 1577836800, time.UTC, day(2020, 1, 1)},
	} {
		if got := tradingDate(tc.ts, tc.loc); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%s: tradingDate(%d) = %s, want %s", tc.name, tc.ts, got, tc.want)
		}
	}
}

func TestLocation(t *testing.T) {
	for _, tc := range []struct {
		meta       chartMeta
		wantName   string
		wantOffset int // at 2024-01-15T12:00Z
	}{
		{chartMeta{ExchangeTimezoneName: "America/New_York", GMTOffset: -14400}, "America/New_York", -5 * 3600},
		{chartMeta{ExchangeTimezoneName: "Not/A_Zone", GMTOffset: 32400}, "Not/A_Zone", 9 * 3600},
		{chartMeta{GMTOffset: -18000}, "", -5 * 3600},
		{chartMeta{}, "", 0},
	} {
		loc := tc.meta.location()
		_, off := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC).In(loc).Zone()
		if loc.String() != tc.wantName || off != tc.wantOffset {
			t.Errorf("%+v: location %q offset %d, want %q %d", tc.meta, loc, off, tc.wantName, tc.wantOffset)
		}
	}
}

func TestOnGrid(t *testing.T) {
	for _, tc := range []struct{ ts, origin, step, want int64 }{
		{1000, 1000, 300, 1000},
		{1300, 1000, 300, 1300},
		{1437, 1000, 300, 1300},
		{1599, 1000, 300, 1300},
		{999, 1000, 300, 700},
		{400, 1000, 300, 400},
		{1727899141, 1727875800, 60, 1727899140},
	} {
		if got := onGrid(tc.ts, tc.origin, tc.step); got != tc.want {
			t.Errorf("onGrid(%d, %d, %d) = %d, want %d", tc.ts, tc.origin, tc.step, got, tc.want)
		}
	}
}

func TestToVolume(t *testing.T) {
	for _, tc := range []struct {
		in     float64
		want   int64
		wantOK bool
	}{
		{0, 0, true},
		{18565664997, 18565664997, true},
		{12.6, 13, true},
		{-1, 0, false},
		{1e19, 0, false},
	} {
		got, ok := toVolume(tc.in)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("toVolume(%v) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestLastPerTS(t *testing.T) {
	bar := func(ts int64, vol int64) market.Bar { return market.Bar{TS: time.Unix(ts, 0).UTC(), Volume: vol} }
	for _, tc := range []struct {
		name string
		in   []market.Bar
		want string // "ts:volume" pairs
	}{
		{"empty", nil, "[]"},
		{"sorted", []market.Bar{bar(1, 10), bar(2, 20)}, "[1:10 2:20]"},
		{"duplicate keeps the last", []market.Bar{bar(1, 10), bar(2, 20), bar(2, 21)}, "[1:10 2:21]"},
		{"unsorted with duplicates", []market.Bar{bar(3, 30), bar(1, 10), bar(3, 31), bar(2, 20), bar(1, 11)}, "[1:11 2:20 3:31]"},
	} {
		var got []string
		for _, b := range lastPerTS(tc.in) {
			got = append(got, fmt.Sprintf("%d:%d", b.TS.Unix(), b.Volume))
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, s, tc.want)
		}
	}
}

// chartJSON builds a minimal chart body. Each row is ts followed by
// open, high, low, close, volume; a nil row value becomes null.
func chartJSON(tz string, rows ...[]any) []byte {
	var ts []string
	cols := make([][]string, 5)
	for _, r := range rows {
		ts = append(ts, fmt.Sprint(r[0]))
		for i := range 5 {
			v := "null"
			if r[i+1] != nil {
				v = fmt.Sprint(r[i+1])
			}
			cols[i] = append(cols[i], v)
		}
	}
	j := func(s []string) string { return "[" + strings.Join(s, ",") + "]" }
	return fmt.Appendf(nil, `{"chart":{"result":[{"meta":{"exchangeTimezoneName":%q,"gmtoffset":0},`+
		`"timestamp":%s,"indicators":{"quote":[{"open":%s,"high":%s,"low":%s,"close":%s,"volume":%s}]}}],"error":null}}`,
		tz, j(ts), j(cols[0]), j(cols[1]), j(cols[2]), j(cols[3]), j(cols[4]))
}

func TestLiveBarReplacesItsDay(t *testing.T) {
	// A daily bar at the Xetra open and, later the same day, the live bar.
	body := chartJSON("Europe/Berlin",
		[]any{1759215600, 1, 2, 0.5, 1.5, 100},
		[]any{1759302000, 2, 3, 1.5, 2.5, 200},
		[]any{1759321976, 2, 4, 1.5, 3.5, 300})
	f := newFake(t, serve(body, http.StatusOK))
	bars, err := source.Bars(context.Background(), newClient(t, f), window("GS2C.DE", "1d", 1759100000, 1759400000))
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 2 || !bars[1].TS.Equal(day(2025, 10, 1)) || bars[1].Volume != 300 || bars[1].Close != 3.5 {
		t.Fatalf("bars = %+v, want 2 with the live bar (volume 300) on 2025-10-01", bars)
	}
}

func TestIntradayOffGridBarIsFloored(t *testing.T) {
	const t0 = 1770057900
	body := chartJSON("America/Chicago",
		[]any{t0, 1, 1, 1, 1, 0},
		[]any{t0 + 300, 2, 2, 2, 2, 0},
		[]any{t0 + 437, 3, 3, 3, 3, 7},      // live bar inside the t0+300 bar
		[]any{t0 + 600 + 59, 4, 4, 4, 4, 9}, // live bar of the next, otherwise absent, bar
		[]any{t0 + 900, nil, 5, 5, 5, 5},    // null open: skipped
		[]any{t0 + 1200, 6, 6, 6, 6, nil})   // null volume: skipped
	f := newFake(t, serve(body, http.StatusOK))
	bars, err := source.Bars(context.Background(), newClient(t, f), window("^TNX", "5m", t0, t0+3600))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bars {
		got = append(got, fmt.Sprintf("%d:%v:%d", b.TS.Unix()-t0, b.Close, b.Volume))
	}
	if s := strings.Join(got, " "); s != "0:1:0 300:3:7 600:4:9" {
		t.Errorf("bars = %s, want 0:1:0 300:3:7 600:4:9", s)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("x", 500)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  <html>\n <body>Oops</body>\n</html>", "<html> <body>Oops</body> </html>"},
		{long, strings.Repeat("x", 120) + "..."},
		{strings.Repeat("é", 100), strings.Repeat("é", 60) + "..."},
		{strings.Repeat(" ", 600) + "tail", "..."},
	} {
		if got := excerpt([]byte(tc.in)); got != tc.want {
			t.Errorf("excerpt(%.20q...) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMergeLive(t *testing.T) {
	bar := func(ts time.Time, o, h, l, c float64, v int64) market.Bar {
		return market.Bar{TS: ts, Open: o, High: h, Low: l, Close: c, AdjClose: ptr(c), Volume: v}
	}
	show := func(bars []market.Bar) string {
		var s []string
		for _, b := range bars {
			s = append(s, fmt.Sprintf("%s:%v/%v/%v/%v/%v/%d", b.TS.Format("01-02"), b.Open, b.High, b.Low, b.Close, *b.AdjClose, b.Volume))
		}
		return strings.Join(s, " ")
	}
	sep, oct := bar(day(2025, 9, 1), 1, 5, 1, 4, 100), bar(day(2025, 10, 1), 4, 6, 3, 5, 200)
	live := bar(day(2025, 10, 15), 5, 9, 2, 7, 30)
	for _, tc := range []struct {
		name string
		iv   market.Interval
		in   []market.Bar
		want string
	}{
		{"monthly live row merged", "1mo", []market.Bar{sep, oct, live}, "09-01:1/5/1/4/4/100 10-01:4/9/2/7/7/230"},
		{"quarterly live row merged", "3mo", []market.Bar{oct, live}, "10-01:4/9/2/7/7/230"},
		{"next period kept", "1mo", []market.Bar{sep, oct}, "09-01:1/5/1/4/4/100 10-01:4/6/3/5/5/200"},
		{"weekly live row merged", "1wk", []market.Bar{bar(day(2025, 10, 13), 4, 6, 3, 5, 200), live}, "10-13:4/9/2/7/7/230"},
		{"weekly next Monday kept", "1wk", []market.Bar{bar(day(2025, 10, 6), 4, 6, 3, 5, 200), bar(day(2025, 10, 13), 5, 9, 2, 7, 30)},
			"10-06:4/6/3/5/5/200 10-13:5/9/2/7/7/30"},
		{"daily untouched", "1d", []market.Bar{bar(day(2025, 10, 14), 4, 6, 3, 5, 200), live}, "10-14:4/6/3/5/5/200 10-15:5/9/2/7/7/30"},
		{"single bar", "1mo", []market.Bar{live}, "10-15:5/9/2/7/7/30"},
	} {
		if got := show(mergeLive(slices.Clone(tc.in), tc.iv)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMonthlyLiveRowEndToEnd(t *testing.T) {
	body := chartJSON("America/New_York",
		[]any{1756699200, 1, 5, 1, 4, 100}, // 2025-09-01 00:00 New York
		[]any{1759291200, 4, 6, 3, 5, 200}, // 2025-10-01 00:00 New York
		[]any{1760549400, 5, 9, 2, 7, 30})  // 2025-10-15 13:30 New York: the live row
	f := newFake(t, serve(body, http.StatusOK))
	req := source.Request{Symbol: "AAPL", Interval: "1mo", From: day(2025, 9, 1), To: day(2025, 11, 1)}
	bars, err := source.Bars(context.Background(), newClient(t, f), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 2 || !bars[1].TS.Equal(day(2025, 10, 1)) || bars[1].Close != 7 || bars[1].Volume != 230 {
		t.Fatalf("bars = %+v, want Sep and Oct with the live row merged into Oct", bars)
	}
	req.From = day(2025, 10, 2) // the merged bar starts before From: dropped with its live row
	if bars, err := source.Bars(context.Background(), newClient(t, f), req); err != nil || len(bars) != 0 {
		t.Fatalf("bars = %+v, err = %v; want none", bars, err)
	}
}
