package synthetic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

var allIntervals = []market.Interval{
	market.Interval1m, market.Interval2m, market.Interval5m, market.Interval15m,
	market.Interval30m, market.Interval60m, market.Interval90m, market.Interval1d,
	market.Interval5d, market.Interval1wk, market.Interval1mo, market.Interval3mo,
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func mustBars(t *testing.T, s *Source, req source.Request) []market.Bar {
	t.Helper()
	bars, err := source.Bars(context.Background(), s, req)
	if err != nil {
		t.Fatalf("Bars(%+v): %v", req, err)
	}
	return bars
}

func sameBits(a, b market.Bar) error {
	fa := []float64{a.Open, a.High, a.Low, a.Close, *a.AdjClose}
	fb := []float64{b.Open, b.High, b.Low, b.Close, *b.AdjClose}
	for i := range fa {
		if math.Float64bits(fa[i]) != math.Float64bits(fb[i]) {
			return fmt.Errorf("field %d: %v != %v", i, fa[i], fb[i])
		}
	}
	if a.Volume != b.Volume || a.Key() != b.Key() || a.Source != b.Source {
		return fmt.Errorf("%+v != %+v", a, b)
	}
	return nil
}

func TestBarsAreWindowIndependent(t *testing.T) {
	base := time.Date(2024, 3, 10, 15, 4, 5, 0, time.UTC)
	for _, iv := range allIntervals {
		t.Run(string(iv), func(t *testing.T) {
			step := iv.Step()
			wide := source.Request{Symbol: "AAPL", Interval: iv, From: base, To: base.Add(40 * step)}
			// A narrower window starting mid-way, from another Source value.
			narrow := wide
			narrow.From = base.Add(17*step + step/3)
			narrow.To = base.Add(25 * step)
			a := mustBars(t, &Source{}, wide)
			b := mustBars(t, &Source{latency: 0}, narrow)
			byKey := map[market.Key]market.Bar{}
			for _, bar := range a {
				byKey[bar.Key()] = bar
			}
			if len(b) == 0 {
				t.Fatal("narrow window returned no bars")
			}
			for _, bar := range b {
				other, ok := byKey[bar.Key()]
				if !ok {
					t.Fatalf("bar %s of the narrow window missing from the wide one", bar.TS)
				}
				if err := sameBits(bar, other); err != nil {
					t.Errorf("bar %s differs between windows: %v", bar.TS, err)
				}
			}
		})
	}
}

// TestGolden pins a few values so that an accidental change of the model
// (which would silently rewrite every stored synthetic bar) fails a test. The
// tolerance allows for last-bit differences across CPU architectures.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		symbol                 string
		iv                     market.Interval
		ts                     time.Time
		open, high, low, close float64
		volume                 int64
	}{
		{"AAPL", market.Interval1d, time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC),
			64.837477024300114, 65.313030057944445, 64.394631308426469, 64.874012423029527, 690868},
		{"^GSPC", market.Interval1m, time.Date(2021, 6, 1, 13, 31, 0, 0, time.UTC),
			22.570742156405814, 22.570820239574687, 22.56946010693207, 22.57051141969875, 97},
		{"EURUSD=X", market.Interval1mo, time.Date(2010, 2, 1, 0, 0, 0, 0, time.UTC),
			104.67126169862674, 108.38543271616315, 98.044186080890654, 102.73931423447779, 62718529},
	} {
		req := source.Request{Symbol: tc.symbol, Interval: tc.iv, From: tc.ts, To: tc.iv.Next(tc.ts)}
		bars := mustBars(t, &Source{}, req)
		if len(bars) != 1 {
			t.Fatalf("%s %s: got %d bars, want 1", tc.symbol, tc.iv, len(bars))
		}
		b := bars[0]
		got := []float64{b.Open, b.High, b.Low, b.Close}
		want := []float64{tc.open, tc.high, tc.low, tc.close}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9*want[i] {
				t.Errorf("%s %s %s: OHLC[%d] = %.17g, want %.17g", tc.symbol, tc.iv, tc.ts, i, got[i], want[i])
			}
		}
		if b.Volume != tc.volume {
			t.Errorf("%s %s %s: volume = %d, want %d", tc.symbol, tc.iv, tc.ts, b.Volume, tc.volume)
		}
	}
}

func TestInvariants(t *testing.T) {
	symbols := []string{"AAPL", "^GSPC", "EURUSD=X", "BRK-B", "7203.T", "BTC-USD", "0P0000XTS7", "A", "ZZZZZZZZZZ"}
	for i := range 40 {
		symbols = append(symbols, fmt.Sprintf("SYM%03d", i))
	}
	from := time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)
	for _, sym := range symbols {
		for _, iv := range allIntervals {
			req := source.Request{Symbol: sym, Interval: iv, From: from, To: from.Add(300 * iv.Step())}
			bars := mustBars(t, &Source{}, req)
			if len(bars) < 290 {
				t.Fatalf("%s %s: %d bars, want about 300", sym, iv, len(bars))
			}
			for i, b := range bars {
				if err := checkBar(b, req); err != nil {
					t.Fatalf("%s %s bar %d: %v", sym, iv, i, err)
				}
				if i > 0 && !bars[i-1].TS.Before(b.TS) {
					t.Fatalf("%s %s: bars not strictly ascending at %d", sym, iv, i)
				}
			}
		}
	}
}

func checkBar(b market.Bar, req source.Request) error {
	for _, v := range []float64{b.Open, b.High, b.Low, b.Close} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return fmt.Errorf("bad price %v in %+v", v, b)
		}
	}
	switch {
	case !(b.Low <= math.Min(b.Open, b.Close) && math.Max(b.Open, b.Close) <= b.High):
		return fmt.Errorf("OHLC inconsistent: %+v", b)
	case b.Volume < 0:
		return fmt.Errorf("negative volume %d", b.Volume)
	case b.AdjClose == nil || *b.AdjClose != b.Close:
		return fmt.Errorf("AdjClose %v, want Close %v", b.AdjClose, b.Close)
	case b.Symbol != req.Symbol || b.Interval != req.Interval || b.Source != "synthetic":
		return fmt.Errorf("identity %q %q %q", b.Symbol, b.Interval, b.Source)
	case b.TS.Location() != time.UTC:
		return fmt.Errorf("TS %s not in UTC", b.TS)
	case !b.TS.Equal(req.Interval.Floor(b.TS)):
		return fmt.Errorf("TS %s is not a bar start", b.TS)
	case b.TS.Before(req.From) || !b.TS.Before(req.To):
		return fmt.Errorf("TS %s outside [%s, %s)", b.TS, req.From, req.To)
	}
	return nil
}

func TestBasePriceRange(t *testing.T) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range 2000 {
		m := newModel(fmt.Sprintf("S%d", i), market.Interval1d)
		b := math.Exp(m.logBase)
		lo, hi = math.Min(lo, b), math.Max(hi, b)
	}
	if lo < 10 || hi > 1000 {
		t.Errorf("base prices span [%v, %v], want within [10, 1000]", lo, hi)
	}
	if lo > 15 || hi < 700 {
		t.Errorf("base prices span [%v, %v], want them spread over [10, 1000]", lo, hi)
	}
}

func TestExactDailyCount(t *testing.T) {
	from := time.Date(2024, 3, 10, 15, 4, 5, 0, time.UTC)
	req := source.Request{Symbol: "AAPL", Interval: market.Interval1d, From: from, To: from.Add(30 * 24 * time.Hour)}
	bars := mustBars(t, &Source{}, req)
	if len(bars) != 30 {
		t.Fatalf("got %d bars, want 30", len(bars))
	}
	if first, last := bars[0].TS, bars[29].TS; !first.Equal(date(2024, 3, 11)) || !last.Equal(date(2024, 4, 9)) {
		t.Errorf("bars span %s..%s, want 2024-03-11..2024-04-09", first, last)
	}
}

func TestBarStarts(t *testing.T) {
	for _, tc := range []struct {
		iv       market.Interval
		from, to time.Time
		want     []time.Time
	}{
		{market.Interval1mo, time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC), date(2024, 5, 1),
			[]time.Time{date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)}},
		{market.Interval1mo, date(2024, 1, 1), date(2024, 3, 2),
			[]time.Time{date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)}},
		{market.Interval3mo, date(2023, 11, 20), date(2024, 10, 1),
			[]time.Time{date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1)}},
		{market.Interval1wk, date(2024, 3, 6), date(2024, 3, 26), // a Wednesday to a Tuesday
			[]time.Time{date(2024, 3, 11), date(2024, 3, 18), date(2024, 3, 25)}},
		{market.Interval1wk, date(2024, 3, 11), date(2024, 3, 18),
			[]time.Time{date(2024, 3, 11)}},
		{market.Interval90m, time.Date(2024, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2024, 3, 10, 4, 30, 0, 0, time.UTC),
			[]time.Time{time.Date(2024, 3, 10, 1, 30, 0, 0, time.UTC), time.Date(2024, 3, 10, 3, 0, 0, 0, time.UTC)}},
		{market.Interval1d, date(2024, 3, 10), date(2024, 3, 10), nil},
		{market.Interval1d, date(2024, 3, 11), date(2024, 3, 10), nil},
		{market.Interval1d, time.Date(2024, 3, 10, 0, 0, 1, 0, time.UTC), date(2024, 3, 11), nil},
	} {
		bars := mustBars(t, &Source{}, source.Request{Symbol: "X", Interval: tc.iv, From: tc.from, To: tc.to})
		var got []time.Time
		for _, b := range bars {
			got = append(got, b.TS)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s [%s, %s): starts %v, want %v", tc.iv, tc.from, tc.to, got, tc.want)
		}
		if bars == nil {
			t.Errorf("%s [%s, %s): nil slice, want empty non-nil", tc.iv, tc.from, tc.to)
		}
	}
}

func TestRejections(t *testing.T) {
	from := date(2024, 1, 1)
	for _, tc := range []struct {
		name  string
		req   source.Request
		extra error
	}{
		{"empty interval", source.Request{Symbol: "AAPL", From: from, To: from.Add(time.Hour)}, market.ErrInvalidInterval},
		{"alias interval", source.Request{Symbol: "AAPL", Interval: "1h", From: from, To: from.Add(time.Hour)}, market.ErrInvalidInterval},
		{"invalid interval, empty window", source.Request{Symbol: "AAPL", Interval: "2h", From: from, To: from}, market.ErrInvalidInterval},
		{"lower-case symbol", source.Request{Symbol: "aapl", Interval: "1d", From: from, To: from.Add(time.Hour)}, market.ErrInvalidSymbol},
		{"100001 minute bars", source.Request{Symbol: "AAPL", Interval: "1m", From: from, To: from.Add(100_001 * time.Minute)}, nil},
		{"a year of minutes", source.Request{Symbol: "AAPL", Interval: "1m", From: from, To: from.AddDate(1, 0, 0)}, nil},
		{"duration overflow", source.Request{Symbol: "AAPL", Interval: "1d", From: date(1, 1, 1), To: date(9999, 1, 1)}, nil},
		{"monthly millennia", source.Request{Symbol: "AAPL", Interval: "1mo", From: date(1, 1, 1), To: date(9999, 1, 1)}, nil},
	} {
		_, err := source.Bars(context.Background(), (&Source{}), tc.req)
		if !errors.Is(err, source.ErrRejected) {
			t.Errorf("%s: err = %v, want ErrRejected", tc.name, err)
		}
		if tc.extra != nil && !errors.Is(err, tc.extra) {
			t.Errorf("%s: err = %v, want it to wrap %v", tc.name, err, tc.extra)
		}
	}
}

func TestMaxBarsBoundaryAccepted(t *testing.T) {
	from := date(2024, 1, 1)
	bars := mustBars(t, &Source{}, source.Request{Symbol: "AAPL", Interval: "1m", From: from, To: from.Add(MaxBars * time.Minute)})
	if len(bars) != MaxBars {
		t.Errorf("got %d bars, want %d", len(bars), MaxBars)
	}
	bars = mustBars(t, &Source{}, source.Request{Symbol: "AAPL", Interval: "3mo", From: date(1, 1, 1), To: date(9999, 1, 1)})
	if len(bars) != 9998*4 {
		t.Errorf("got %d quarterly bars, want %d", len(bars), 9998*4)
	}
}

func TestLatency(t *testing.T) {
	const lat = 60 * time.Millisecond
	req := source.Request{Symbol: "AAPL", Interval: "1d", From: date(2024, 1, 1), To: date(2024, 1, 3)}
	start := time.Now()
	bars := mustBars(t, &Source{latency: lat}, req)
	if el := time.Since(start); el < lat {
		t.Errorf("returned after %s, want at least %s", el, lat)
	}
	if len(bars) != 2 {
		t.Errorf("got %d bars, want 2", len(bars))
	}
}

func TestCancellation(t *testing.T) {
	req := source.Request{Symbol: "AAPL", Interval: "1d", From: date(2024, 1, 1), To: date(2024, 1, 3)}
	t.Run("during latency", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		_, err := source.Bars(ctx, (&Source{latency: 10 * time.Second}), req)
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("returned after %s, want prompt return", el)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("already cancelled, no latency", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := source.Bars(ctx, (&Source{}), req)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, err := source.Bars(ctx, (&Source{latency: time.Second}), req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestName(t *testing.T) {
	var s source.Source = &Source{}
	if s.Name() != "synthetic" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestConcurrentUse(t *testing.T) {
	s := &Source{}
	req := source.Request{Symbol: "AAPL", Interval: market.Interval60m, From: date(2024, 1, 1), To: date(2024, 1, 2)}
	want := mustBars(t, s, req)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := source.Bars(context.Background(), s, req)
			if err == nil && len(got) != len(want) {
				err = fmt.Errorf("got %d bars, want %d", len(got), len(want))
			}
			for i := 0; err == nil && i < len(got); i++ {
				err = sameBits(got[i], want[i])
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestNewRefusesANegativeLatency(t *testing.T) {
	if _, err := New(Config{Latency: -time.Second}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with latency -1s = %v, want ErrInvalidConfig", err)
	}
	s, err := New(Config{Latency: time.Millisecond})
	if err != nil || s.latency != time.Millisecond {
		t.Fatalf("New = %+v, %v", s, err)
	}
}
