package features_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"marketfleet/features"
	"marketfleet/market"
)

func TestComputeEdgeCases(t *testing.T) {
	flat := series(make([]float64, 25)...)
	for i := range flat {
		flat[i].Close, flat[i].Volume = 7, 500
	}
	zeroVolume := series(make([]float64, 20)...)
	for i := range zeroVolume {
		zeroVolume[i].Close, zeroVolume[i].Volume = 7, 0
	}
	tests := []struct {
		name  string
		bars  []market.Bar
		check func(t *testing.T, rows []features.Row)
	}{
		{"empty input gives no rows", nil, func(t *testing.T, rows []features.Row) {
			if rows != nil {
				t.Fatalf("rows = %v, want nil", rows)
			}
		}},
		{"one bar has every feature undefined", series(42), func(t *testing.T, rows []features.Row) {
			for name, v := range named(rows[0]) {
				if v != nil {
					t.Errorf("%s = %v, want nil", name, *v)
				}
			}
			if rows[0].Symbol != "TEST" || rows[0].Interval != market.Interval1d || !rows[0].TS.Equal(t0) {
				t.Errorf("row identity = %s %s %s", rows[0].Symbol, rows[0].Interval, rows[0].TS)
			}
		}},
		{"flat series: RSI 100 (no losses), returns and vol 0, volume z undefined", flat, func(t *testing.T, rows []features.Row) {
			last := rows[24]
			want := map[string]float64{"Return": 0, "LogReturn": 0, "SMA20": 7, "EMA20": 7, "RSI14": 100, "Vol20": 0}
			for name, w := range want {
				if got := named(last)[name]; !near(got, w) {
					t.Errorf("%s = %v, want %v", name, show(got), w)
				}
			}
			if last.VolumeZ20 != nil || last.SMA50 != nil {
				t.Errorf("VolumeZ20, SMA50 = %v, %v; want nil", show(last.VolumeZ20), show(last.SMA50))
			}
		}},
		{"all-zero volume: z-score undefined, not 0", zeroVolume, func(t *testing.T, rows []features.Row) {
			if rows[19].VolumeZ20 != nil {
				t.Fatalf("VolumeZ20 = %v, want nil (stdev 0)", *rows[19].VolumeZ20)
			}
		}},
		{"RSI needs 15 prices", series(stockCharts[:15]...), func(t *testing.T, rows []features.Row) {
			if rows[13].RSI14 != nil || rows[14].RSI14 == nil {
				t.Fatalf("RSI14 rows 13, 14 = %v, %v; want nil, defined", show(rows[13].RSI14), show(rows[14].RSI14))
			}
		}},
		{"rising series: RSI 100, no losses", series(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), func(t *testing.T, rows []features.Row) {
			if !near(rows[15].RSI14, 100) {
				t.Fatalf("RSI14 = %v, want 100", show(rows[15].RSI14))
			}
		}},
		{"falling series: RSI 0, no gains", series(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), func(t *testing.T, rows []features.Row) {
			if !near(rows[15].RSI14, 0) {
				t.Fatalf("RSI14 = %v, want 0", show(rows[15].RSI14))
			}
		}},
		{"zero and negative prices: log return undefined, return only after a non-zero price", series(2, 0, -1, 1), func(t *testing.T, rows []features.Row) {
			// 2 → 0: −100%; 0 → −1: undefined; −1 → 1: 1/−1 − 1 = −2.
			want := []*float64{nil, ptr(-1), nil, ptr(-2)}
			for i, r := range rows {
				if r.LogReturn != nil || !sameNear(r.Return, want[i]) {
					t.Errorf("row %d return, log = %v, %v; want %v, nil", i, show(r.Return), show(r.LogReturn), show(want[i]))
				}
			}
		}},
		{"an overflowing ratio is undefined, never Inf", series(1e-300, 1e300), func(t *testing.T, rows []features.Row) {
			if rows[1].Return != nil || rows[1].LogReturn != nil {
				t.Fatalf("Return, LogReturn = %v, %v; want nil, nil", show(rows[1].Return), show(rows[1].LogReturn))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := features.Compute(tc.bars)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if len(rows) != len(tc.bars) {
				t.Fatalf("%d rows for %d bars", len(rows), len(tc.bars))
			}
			tc.check(t, rows)
		})
	}
}

func ptr(v float64) *float64 { return &v }

func sameNear(got, want *float64) bool {
	if want == nil {
		return got == nil
	}
	return near(got, *want)
}

func TestComputeRejectsBadSeries(t *testing.T) {
	tests := []struct {
		name   string
		change func(b []market.Bar)
		want   error
	}{
		{"another symbol", func(b []market.Bar) { b[2].Symbol = "OTHER" }, features.ErrMixedSeries},
		{"another interval", func(b []market.Bar) { b[1].Interval = market.Interval1wk }, features.ErrMixedSeries},
		{"repeated start", func(b []market.Bar) { b[2].TS = b[1].TS }, features.ErrUnsorted},
		{"earlier start", func(b []market.Bar) { b[1].TS = b[0].TS.Add(-time.Hour) }, features.ErrUnsorted},
		{"NaN close", func(b []market.Bar) { b[0].Close = math.NaN() }, features.ErrBadBar},
		{"infinite adjusted close", func(b []market.Bar) { inf := math.Inf(1); b[3].AdjClose = &inf }, features.ErrBadBar},
		{"negative volume", func(b []market.Bar) { b[3].Volume = -1 }, features.ErrBadBar},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bars := series(1, 2, 3, 4)
			tc.change(bars)
			rows, err := features.Compute(bars)
			if !errors.Is(err, tc.want) || rows != nil {
				t.Fatalf("Compute = %d rows, %v; want no rows and an error wrapping %v", len(rows), err, tc.want)
			}
		})
	}
}

// TestComputeIsCausal: a row never depends on later bars, so computing over a
// prefix gives exactly the prefix of the full computation.
func TestComputeIsCausal(t *testing.T) {
	bars := randomWalk(300)
	full := compute(t, bars)
	for _, n := range []int{1, 14, 15, 49, 50, 51, 173} {
		part := compute(t, bars[:n])
		for i := range part {
			for name, v := range named(part[i]) {
				if !same(v, named(full[i])[name]) {
					t.Fatalf("prefix %d row %d %s = %v, full history %v", n, i, name, show(v), show(named(full[i])[name]))
				}
			}
		}
	}
}

// TestLookbackSufficesForWindowFeatures: with exactly Lookback earlier bars,
// every feature of the first row is defined and the window features are
// bit-identical to the full history's; with one bar fewer SMA50 is missing.
// The recursive features (EMA, RSI) differ: that is why the store reads the
// whole history before recomputing.
func TestLookbackSufficesForWindowFeatures(t *testing.T) {
	bars := randomWalk(400)
	full := compute(t, bars)
	const start = 300
	part := compute(t, bars[start-features.Lookback:])
	for i := features.Lookback; i < len(part); i++ {
		for _, name := range windowFeatures {
			if got, want := named(part[i])[name], named(full[start-features.Lookback+i])[name]; !same(got, want) {
				t.Fatalf("row %d %s = %v with Lookback history, %v with full history", i, name, show(got), show(want))
			}
		}
	}
	for name, v := range named(part[features.Lookback]) {
		if v == nil {
			t.Errorf("%s undefined after Lookback bars", name)
		}
	}
	if short := compute(t, bars[start-features.Lookback+1:]); short[features.Lookback-1].SMA50 != nil {
		t.Error("SMA50 defined with Lookback−1 earlier bars: Lookback is larger than needed")
	}
	if same(part[features.Lookback].EMA50, full[start].EMA50) {
		t.Error("EMA50 from a truncated history equals the full one: the recursive seed is not exercised")
	}
}

func TestSince(t *testing.T) {
	rows := compute(t, series(1, 2, 3, 4))
	tests := []struct {
		from time.Time
		want int
	}{
		{t0.Add(-time.Hour), 4},
		{t0, 4},
		{t0.AddDate(0, 0, 2), 2},
		{t0.AddDate(0, 0, 1).Add(time.Hour), 2},
		{t0.AddDate(0, 0, 9), 0},
	}
	for _, tc := range tests {
		got := features.Since(rows, tc.from)
		if len(got) != tc.want || (tc.want > 0 && got[0].TS.Before(tc.from)) {
			t.Errorf("Since(%s) = %d rows, want %d", tc.from, len(got), tc.want)
		}
	}
}
