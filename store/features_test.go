package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/features"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/store"
)

var featureT0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// featureWalk makes n daily bars of a seeded geometric random walk.
func featureWalk(symbol string, n int) []market.Bar {
	r := rand.New(rand.NewPCG(3, 5))
	price := 50.0
	out := make([]market.Bar, n)
	for i := range out {
		price *= math.Exp(r.NormFloat64() * 0.015)
		adj := price * 0.98
		out[i] = market.Bar{Symbol: symbol, Interval: market.Interval1d, TS: featureT0.AddDate(0, 0, i),
			Open: price, High: price * 1.01, Low: price * 0.99, Close: price, AdjClose: &adj,
			Volume: int64(2e6 + r.IntN(1e6)), Source: "test"}
	}
	return out
}

// readFeatureTable reads one series of the features table as an outsider.
func readFeatureTable(t *testing.T, admin *pgx.Conn, symbol string) []features.Row {
	t.Helper()
	rows, err := admin.Query(context.Background(), `
		SELECT symbol, "interval", ts, simple_return, log_return, sma5, sma20, sma50, ema5, ema20, ema50,
		       rsi14, vol20, volume_z20
		FROM features WHERE symbol = $1 ORDER BY ts`, symbol)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (features.Row, error) {
		var r features.Row
		var iv string
		err := row.Scan(&r.Symbol, &iv, &r.TS, &r.Return, &r.LogReturn, &r.SMA5, &r.SMA20, &r.SMA50,
			&r.EMA5, &r.EMA20, &r.EMA50, &r.RSI14, &r.Vol20, &r.VolumeZ20)
		r.Interval, r.TS = market.Interval(iv), r.TS.UTC()
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffRows describes the first difference between two row lists, comparing
// every value bit for bit, or returns "".
func diffRows(got, want []features.Row) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Symbol != w.Symbol || g.Interval != w.Interval || !g.TS.Equal(w.TS) {
			return fmt.Sprintf("row %d is %s %s %s, want %s %s %s", i, g.Symbol, g.Interval, g.TS, w.Symbol, w.Interval, w.TS)
		}
		gv, wv := featureValues(g), featureValues(w)
		for j := range gv {
			if !sameFloat(gv[j], wv[j]) {
				return fmt.Sprintf("row %d (%s) value %d = %v, want %v", i, g.TS.Format(time.DateOnly), j, deref(gv[j]), deref(wv[j]))
			}
		}
	}
	return ""
}

func featureValues(r features.Row) []*float64 {
	return []*float64{r.Return, r.LogReturn, r.SMA5, r.SMA20, r.SMA50, r.EMA5, r.EMA20, r.EMA50, r.RSI14, r.Vol20, r.VolumeZ20}
}

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Float64bits(*a) == math.Float64bits(*b)
}

func deref(v *float64) any {
	if v == nil {
		return "NULL"
	}
	return *v
}

func featureChecksum(t *testing.T, admin *pgx.Conn) (string, int) {
	t.Helper()
	var sum string
	var n int
	err := admin.QueryRow(context.Background(), `
		SELECT coalesce(md5(string_agg(f::text, '|' ORDER BY symbol, "interval", ts)), ''), count(*) FROM features f`).Scan(&sum, &n)
	if err != nil {
		t.Fatal(err)
	}
	return sum, n
}

func mustCompute(t *testing.T, bars []market.Bar) []features.Row {
	t.Helper()
	rows, err := features.Compute(bars)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestFeaturesReadBars(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	in := featureWalk("AAPL", 30)
	other := featureWalk("MSFT", 30)
	weekly := featureWalk("AAPL", 5)
	for i := range weekly {
		weekly[i].Interval = market.Interval1wk
	}
	for _, b := range [][]market.Bar{in, other, weekly} {
		if _, err := s.WriteBars(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		symbol      string
		from        time.Time
		limitBefore int
		want        []market.Bar
	}{
		{"three before plus all from", "AAPL", in[10].TS, 3, in[7:]},
		{"none before", "AAPL", in[10].TS, 0, in[10:]},
		{"all history", "AAPL", in[10].TS, store.AllHistory, in},
		{"from between bars", "AAPL", in[10].TS.Add(time.Hour), 2, in[9:]},
		{"from after the last bar", "AAPL", in[29].TS.AddDate(0, 0, 1), 4, in[26:]},
		{"limit larger than the history", "AAPL", in[2].TS, 100, in},
		{"unknown symbol", "NOPE", in[0].TS, store.AllHistory, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ReadBars(ctx, tc.symbol, market.Interval1d, tc.from, tc.limitBefore)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffBars(got, tc.want); d != "" {
				t.Fatal(d)
			}
		})
	}
	_, err := s.ReadBars(ctx, "AAPL", "1x", in[0].TS, 1)
	if !errors.Is(err, market.ErrInvalidInterval) {
		t.Fatalf("ReadBars with interval 1x: %v, want ErrInvalidInterval", err)
	}
}

func diffBars(got, want []market.Bar) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bars, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.AdjClose == nil || w.AdjClose == nil || *g.AdjClose != *w.AdjClose || g.TS.Location() != time.UTC {
			return fmt.Sprintf("bar %d adj_close %v (ts %s), want %v in UTC", i, g.AdjClose, g.TS, *w.AdjClose)
		}
		g.AdjClose, w.AdjClose = nil, nil
		if g.TS.Equal(w.TS) {
			g.TS = w.TS
		}
		if g != w {
			return fmt.Sprintf("bar %d = %+v, want %+v", i, g, w)
		}
	}
	return ""
}

func TestFeaturesLastBar(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	ts, ok, err := s.LastBar(ctx, "AAPL", market.Interval1d)
	if err != nil || ok || !ts.IsZero() {
		t.Fatalf("LastBar on an empty table = %v, %v, %v; want zero, false, nil", ts, ok, err)
	}
	in := featureWalk("AAPL", 12)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	ts, ok, err = s.LastBar(ctx, "AAPL", market.Interval1d)
	if err != nil || !ok || !ts.Equal(in[11].TS) || ts.Location() != time.UTC {
		t.Fatalf("LastBar = %v, %v, %v; want %v, true, nil", ts, ok, err, in[11].TS)
	}
	if _, ok, err := s.LastBar(ctx, "AAPL", market.Interval1wk); err != nil || ok {
		t.Fatalf("LastBar of another interval = %v, %v; want false, nil", ok, err)
	}
	if _, _, err := s.LastBar(ctx, "AAPL", ""); !errors.Is(err, market.ErrInvalidInterval) {
		t.Fatalf("LastBar with an empty interval: %v, want ErrInvalidInterval", err)
	}
}

func TestFeaturesWriteIsIdempotent(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	in := featureWalk("AAPL", 80)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	stored, err := s.ReadBars(ctx, "AAPL", market.Interval1d, in[0].TS, store.AllHistory)
	if err != nil {
		t.Fatal(err)
	}
	rows := mustCompute(t, stored)
	if n, err := s.WriteFeatures(ctx, rows); err != nil || n != 80 {
		t.Fatalf("first WriteFeatures = %d, %v; want 80", n, err)
	}
	if d := diffRows(readFeatureTable(t, admin, "AAPL"), rows); d != "" {
		t.Fatalf("features table: %s", d)
	}
	var nulls int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM features WHERE sma50 IS NULL`).Scan(&nulls); err != nil || nulls != 49 {
		t.Fatalf("rows with sma50 NULL = %d, %v; want 49 (undefined is NULL, not 0)", nulls, err)
	}
	sum1, _ := featureChecksum(t, admin)
	time.Sleep(10 * time.Millisecond) // a rewrite would move computed_at
	if n, err := s.WriteFeatures(ctx, rows); err != nil || n != 0 {
		t.Fatalf("second WriteFeatures = %d, %v; want 0 rows changed", n, err)
	}
	if sum2, _ := featureChecksum(t, admin); sum2 != sum1 {
		t.Fatal("features table changed by a repeated write")
	}
	rows[60].RSI14 = nil
	v := 1.5
	rows[61].Vol20 = &v
	if n, err := s.WriteFeatures(ctx, append(rows, rows[61])); err != nil || n != 2 {
		t.Fatalf("WriteFeatures with two changed rows (one repeated) = %d, %v; want 2", n, err)
	}
	if n, err := s.WriteFeatures(ctx, nil); err != nil || n != 0 {
		t.Fatalf("WriteFeatures(nil) = %d, %v", n, err)
	}
}

func TestFeaturesWriteFailureCommitsNothing(t *testing.T) {
	s, admin := migrated(t)
	rows := mustCompute(t, featureWalk("TSLA", 5))
	rows[4].Symbol = "" // violates the CHECK constraint
	_, err := s.WriteFeatures(context.Background(), rows)
	if outcome.Of(err) != outcome.Data || store.SQLState(err) != "23514" {
		t.Fatalf("WriteFeatures with an empty symbol: %v (class %s); want data 23514", err, outcome.Of(err))
	}
	if _, n := featureChecksum(t, admin); n != 0 {
		t.Fatalf("%d rows committed by a failed write, want 0", n)
	}
}
