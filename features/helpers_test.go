package features_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"marketfleet/features"
	"marketfleet/market"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// series makes daily bars of one symbol with the given closes (no adjusted
// close) and volume 1000+i.
func series(closes ...float64) []market.Bar {
	out := make([]market.Bar, len(closes))
	for i, c := range closes {
		out[i] = market.Bar{Symbol: "TEST", Interval: market.Interval1d, TS: t0.AddDate(0, 0, i),
			Open: c, High: c, Low: c, Close: c, Volume: int64(1000 + i), Source: "test"}
	}
	return out
}

// randomWalk makes n bars with a seeded geometric random walk, random volumes
// and adjusted closes on every bar.
func randomWalk(n int) []market.Bar {
	r := rand.New(rand.NewPCG(7, 11))
	price := 100.0
	out := make([]market.Bar, n)
	for i := range out {
		price *= math.Exp(r.NormFloat64() * 0.02)
		adj := price * 0.97
		out[i] = market.Bar{Symbol: "WALK", Interval: market.Interval1d, TS: t0.AddDate(0, 0, i),
			Open: price, High: price * 1.01, Low: price * 0.99, Close: price, AdjClose: &adj,
			Volume: int64(1e6 + r.IntN(500000)), Source: "test"}
	}
	return out
}

func compute(t *testing.T, bars []market.Bar) []features.Row {
	t.Helper()
	rows, err := features.Compute(bars)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	if len(rows) != len(bars) {
		t.Fatalf("Compute returned %d rows for %d bars", len(rows), len(bars))
	}
	return rows
}

// named lists a row's features by name.
func named(r features.Row) map[string]*float64 {
	return map[string]*float64{
		"Return": r.Return, "LogReturn": r.LogReturn, "SMA5": r.SMA5, "SMA20": r.SMA20, "SMA50": r.SMA50,
		"EMA5": r.EMA5, "EMA20": r.EMA20, "EMA50": r.EMA50, "RSI14": r.RSI14, "Vol20": r.Vol20,
		"VolumeZ20": r.VolumeZ20,
	}
}

// windowFeatures are the features that depend on a bounded window only.
var windowFeatures = []string{"Return", "LogReturn", "SMA5", "SMA20", "SMA50", "Vol20", "VolumeZ20"}

// same reports whether two optional values are both nil or bit-identical.
func same(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Float64bits(*a) == math.Float64bits(*b)
}

// near reports whether got is defined and within 1e-9 relative of want.
func near(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func show(v *float64) any {
	if v == nil {
		return "nil"
	}
	return *v
}

// checkSeries asserts that feature name is nil before index from and equals
// want(i) from there on.
func checkSeries(t *testing.T, rows []features.Row, name string, from int, want func(i int) float64) {
	t.Helper()
	for i, r := range rows {
		got := named(r)[name]
		if i < from {
			if got != nil {
				t.Errorf("row %d %s = %v, want nil (not enough history)", i, name, *got)
			}
			continue
		}
		if w := want(i); !near(got, w) {
			t.Errorf("row %d %s = %v, want %v", i, name, show(got), w)
		}
	}
}
