package testenv

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/features"
	"marketfleet/market"
)

// WalkStart is the first bar of Walk.
var WalkStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Walk makes n daily bars of symbol from WalkStart: a seeded geometric
// random walk, the same for every call.
func Walk(symbol string, n int) []market.Bar {
	r := rand.New(rand.NewPCG(3, 5))
	price := 50.0
	out := make([]market.Bar, n)
	for i := range out {
		price *= math.Exp(r.NormFloat64() * 0.015)
		adj := price * 0.98
		out[i] = market.Bar{Symbol: symbol, Interval: market.Interval1d, TS: WalkStart.AddDate(0, 0, i),
			Open: price, High: price * 1.01, Low: price * 0.99, Close: price, AdjClose: &adj,
			Volume: int64(2e6 + r.IntN(1e6)), Source: "test"}
	}
	return out
}

// StoredBars reads every bar of series, oldest first, through conn (an
// outsider's session): TS, prices, adjusted close and volume.
func StoredBars(t *testing.T, conn *pgx.Conn, series market.Series) []market.Bar {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT ts, open, high, low, close, adj_close, volume FROM bars
		WHERE symbol = $1 AND "interval" = $2 ORDER BY ts`, series.Symbol, string(series.Interval))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (market.Bar, error) {
		b := market.Bar{Symbol: series.Symbol, Interval: series.Interval}
		err := row.Scan(&b.TS, &b.Open, &b.High, &b.Low, &b.Close, &b.AdjClose, &b.Volume)
		b.TS = b.TS.UTC()
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FeatureRows reads one symbol's rows of the features table, oldest first,
// through conn (an outsider's session).
func FeatureRows(t *testing.T, conn *pgx.Conn, symbol string) []features.Row {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
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

// DiffFeatures describes the first difference between two lists of feature
// rows, comparing every value bit for bit, or returns "".
func DiffFeatures(got, want []features.Row) string {
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

// Compute is features.Compute, failing the test on an error.
func Compute(t *testing.T, bars []market.Bar) []features.Row {
	t.Helper()
	rows, err := features.Compute(bars)
	if err != nil {
		t.Fatal(err)
	}
	return rows
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
