package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/store"
)

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

func TestFeaturesReadBars(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	in := testenv.Walk("AAPL", 30)
	other := testenv.Walk("MSFT", 30)
	weekly := testenv.Walk("AAPL", 5)
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
	in := testenv.Walk("AAPL", 12)
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
	in := testenv.Walk("AAPL", 80)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	stored, err := s.ReadBars(ctx, "AAPL", market.Interval1d, in[0].TS, store.AllHistory)
	if err != nil {
		t.Fatal(err)
	}
	rows := testenv.Compute(t, stored)
	if n, err := s.WriteFeatures(ctx, rows); err != nil || n != 80 {
		t.Fatalf("first WriteFeatures = %d, %v; want 80", n, err)
	}
	if d := testenv.DiffFeatures(testenv.FeatureRows(t, admin, "AAPL"), rows); d != "" {
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
	rows := testenv.Compute(t, testenv.Walk("TSLA", 5))
	rows[4].Symbol = "" // violates the CHECK constraint
	_, err := s.WriteFeatures(context.Background(), rows)
	if outcome.Of(err) != outcome.Data || store.SQLState(err) != "23514" {
		t.Fatalf("WriteFeatures with an empty symbol: %v (class %s); want data 23514", err, outcome.Of(err))
	}
	if _, n := featureChecksum(t, admin); n != 0 {
		t.Fatalf("%d rows committed by a failed write, want 0", n)
	}
}
