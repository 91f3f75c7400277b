package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/market"
)

// upsertBars is the real worker's statement (store/bars.go, upsertBars),
// copied verbatim so that the designs differ only in how they use
// connections and transactions, never in the SQL.
const upsertBars = `
WITH up AS (
    INSERT INTO bars AS b (symbol, "interval", ts, open, high, low, close, adj_close, volume, source)
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
                         $6::float8[], $7::float8[], $8::float8[], $9::int8[], $10::text[])
    ON CONFLICT (symbol, "interval", ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        adj_close = EXCLUDED.adj_close, volume = EXCLUDED.volume, source = EXCLUDED.source,
        updated_at = now()
    WHERE (b.open, b.high, b.low, b.close, b.adj_close, b.volume, b.source)
          IS DISTINCT FROM
          (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.adj_close, EXCLUDED.volume, EXCLUDED.source)
    RETURNING symbol, "interval", ts
)
SELECT symbol, "interval", min(ts), max(ts), count(*) FROM up GROUP BY symbol, "interval"`

// execer runs one statement in its own implicit transaction: a
// *pgxpool.Pool (which acquires a connection for it) or a *pgx.Conn.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// upsert writes the bars of one task with one statement. The bars of a
// synthetic task have distinct keys, so no de-duplication is needed.
func upsert(ctx context.Context, db execer, bars []market.Bar) error {
	c := columnsOf(bars)
	_, err := db.Exec(ctx, upsertBars, c.symbol, c.interval, c.ts, c.open, c.high, c.low, c.close,
		c.adjClose, c.volume, c.source)
	return err
}

// columns are bars as column arrays, as store/bars.go builds them.
type columns struct {
	symbol, interval, source []string
	ts                       []time.Time
	open, high, low, close   []float64
	adjClose                 []*float64
	volume                   []int64
}

func columnsOf(bars []market.Bar) columns {
	n := len(bars)
	c := columns{
		symbol: make([]string, n), interval: make([]string, n), source: make([]string, n),
		ts: make([]time.Time, n), open: make([]float64, n), high: make([]float64, n),
		low: make([]float64, n), close: make([]float64, n), adjClose: make([]*float64, n),
		volume: make([]int64, n),
	}
	for i, b := range bars {
		c.symbol[i], c.interval[i], c.source[i] = b.Symbol, string(b.Interval), b.Source
		c.ts[i] = b.TS.UTC()
		c.open[i], c.high[i], c.low[i], c.close[i] = b.Open, b.High, b.Low, b.Close
		c.adjClose[i], c.volume[i] = b.AdjClose, b.Volume
	}
	return c
}
