package synthetictest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/synthetic"
)

// MatchesTable checks that the bars table, read through conn, holds
// exactly what the synthetic source gives for reqs: the same rows, the
// same values, nothing else.
func MatchesTable(t testing.TB, conn *pgx.Conn, reqs []source.Request) {
	t.Helper()
	ctx := context.Background()
	want := map[market.Key]market.Bar{}
	for _, r := range reqs {
		bars, err := source.Bars(ctx, &synthetic.Source{}, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bars {
			want[b.Key()] = b
		}
	}
	rows, err := conn.Query(ctx, `SELECT symbol, "interval", ts, open, high, low, close, adj_close, volume, source FROM bars`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (market.Bar, error) {
		var b market.Bar
		var iv string
		err := r.Scan(&b.Symbol, &iv, &b.TS, &b.Open, &b.High, &b.Low, &b.Close, &b.AdjClose, &b.Volume, &b.Source)
		b.Interval, b.TS = market.Interval(iv), b.TS.UTC()
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("bars table holds %d rows, the synthetic source gives %d", len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[g.Key()]
		if !ok {
			t.Fatalf("unexpected row %+v", g)
		}
		if g.Open != w.Open || g.High != w.High || g.Low != w.Low || g.Close != w.Close || g.Volume != w.Volume ||
			g.Source != w.Source || (g.AdjClose == nil) != (w.AdjClose == nil) || g.AdjClose != nil && *g.AdjClose != *w.AdjClose {
			t.Fatalf("row %v: got %+v, want %+v", g.Key(), g, w)
		}
	}
}
