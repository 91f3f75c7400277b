package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// upsertBars writes many bars in one statement: the columns travel as arrays
// and unnest turns them back into rows (one round trip, however many rows).
// A row whose values did not change is left alone, so re-applying a task
// leaves the table, updated_at and as_of included, exactly as it was, unless
// the stored row was provisional and the new one is final: then the row is
// rewritten, final. A provisional answer never makes a final row with the
// same values provisional again. A bar without AsOf is as of (and fetched at)
// the write.
const upsertBars = `
WITH up AS (
    INSERT INTO bars AS b (symbol, "interval", ts, open, high, low, close, adj_close, volume, source, as_of,
                           fetched_at, provisional_until)
    SELECT s, i, t, o, h, l, c, a, v, src, coalesce(asof, now()), coalesce(asof, now()), pu
    FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
                $6::float8[], $7::float8[], $8::float8[], $9::int8[], $10::text[], $11::timestamptz[],
                $12::timestamptz[])
         AS u(s, i, t, o, h, l, c, a, v, src, asof, pu)
    ON CONFLICT (symbol, "interval", ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        adj_close = EXCLUDED.adj_close, volume = EXCLUDED.volume, source = EXCLUDED.source,
        as_of = EXCLUDED.as_of, fetched_at = EXCLUDED.fetched_at,
        provisional_until = EXCLUDED.provisional_until, updated_at = now()
    WHERE (b.open, b.high, b.low, b.close, b.adj_close, b.volume, b.source)
          IS DISTINCT FROM
          (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.adj_close, EXCLUDED.volume, EXCLUDED.source)
       OR (b.provisional_until IS NOT NULL AND EXCLUDED.provisional_until IS NULL)
    RETURNING symbol, "interval", ts
)
SELECT symbol, "interval", min(ts), max(ts), count(*) FROM up GROUP BY symbol, "interval"`

// WriteResult tells what WriteBars did.
type WriteResult struct {
	// Rows is the number of distinct bars submitted (after de-duplication).
	Rows int
	// Changed is the number of rows inserted or updated; unchanged rows are
	// not rewritten.
	Changed int64
	// Series lists, per series, the rows inserted or updated: what a
	// features update must start from. Series with no change are absent.
	Series []SeriesChange
}

// SeriesChange is what one write changed in one series.
type SeriesChange struct {
	market.Series
	// First and Last are the starts of the earliest and latest bars changed.
	First, Last time.Time
	// Rows is the number of rows inserted or updated.
	Rows int64
}

// WriteBars upserts bars in a transaction of their own and commits: see
// (*Tx).WriteBars.
func (s *Store) WriteBars(ctx context.Context, bars []market.Bar) (WriteResult, error) {
	var res WriteResult
	err := s.InTx(ctx, func(tx *Tx) (err error) {
		res, err = tx.WriteBars(ctx, bars)
		return err
	})
	if err != nil {
		return WriteResult{}, err
	}
	return res, nil
}

// WriteBars upserts bars in one statement, inside the transaction, then
// brings them up to date with the corporate actions their series has been
// restated for since the source answered (reapply: a second round trip,
// which changes nothing in the common case). No bars is a no-op without a
// round trip. Bars with the same key are de-duplicated
// first (the last one wins), since one statement may not touch a row twice.
// Errors are wrapped ("write bars: ...") and marked with their outcome class:
// bars the database refuses (SQLSTATE classes 22 and 23) are outcome.Data.
func (t *Tx) WriteBars(ctx context.Context, bars []market.Bar) (WriteResult, error) {
	if len(bars) == 0 {
		return WriteResult{}, nil
	}
	c := columnsOf(dedupe(bars))
	res := WriteResult{Rows: len(c.symbol)}
	err := t.run(ctx, "write bars", func(q querier) error {
		rows, err := q.Query(ctx, upsertBars, c.args()...)
		if err != nil {
			return err
		}
		if res.Series, err = pgx.CollectRows(rows, scanSeriesChange); err != nil {
			return err
		}
		return reapply(ctx, q, c)
	})
	if err != nil {
		return WriteResult{}, err
	}
	for _, c := range res.Series {
		res.Changed += c.Rows
	}
	return res, nil
}

// UpsertStatement returns the statement WriteBars runs for bars (after
// de-duplication) with its arguments: the column arrays. It exists so that
// the benchmark's other designs write with exactly the worker's SQL through
// connections of their own; production code calls WriteBars.
func UpsertStatement(bars []market.Bar) (string, []any) {
	return upsertBars, columnsOf(dedupe(bars)).args()
}

// dedupe keeps the last bar of each key, in first-seen order.
func dedupe(bars []market.Bar) []market.Bar { return lastByKey(bars, market.Bar.Key) }

// lastByKey keeps the last of the rows that share a key, in first-seen
// order: one statement may not touch a row twice.
func lastByKey[T any, K comparable](rows []T, key func(T) K) []T {
	idx := make(map[K]int, len(rows))
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		k := key(r)
		if i, ok := idx[k]; ok {
			out[i] = r
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

type columns struct {
	symbol, interval, source []string
	ts                       []time.Time
	open, high, low, close   []float64
	adjClose                 []*float64
	volume                   []int64
	asOf                     []*time.Time // nil: the time of the write
	provisionalUntil         []*time.Time // nil: final
}

// args are the upsert's arguments.
func (c columns) args() []any {
	return []any{c.symbol, c.interval, c.ts, c.open, c.high, c.low, c.close, c.adjClose, c.volume, c.source, c.asOf, c.provisionalUntil}
}

func columnsOf(bars []market.Bar) columns {
	n := len(bars)
	c := columns{
		symbol: make([]string, n), interval: make([]string, n), source: make([]string, n),
		ts: make([]time.Time, n), open: make([]float64, n), high: make([]float64, n),
		low: make([]float64, n), close: make([]float64, n), adjClose: make([]*float64, n),
		volume: make([]int64, n), asOf: make([]*time.Time, n), provisionalUntil: make([]*time.Time, n),
	}
	for i, b := range bars {
		c.symbol[i], c.interval[i], c.source[i] = b.Symbol, string(b.Interval), b.Source
		c.ts[i] = b.TS.UTC()
		c.open[i], c.high[i], c.low[i], c.close[i] = b.Open, b.High, b.Low, b.Close
		c.adjClose[i], c.volume[i] = b.AdjClose, b.Volume
		if !b.AsOf.IsZero() {
			asOf := b.AsOf.UTC()
			c.asOf[i] = &asOf
		}
		if b.Provisional() {
			until := b.ProvisionalUntil.UTC()
			c.provisionalUntil[i] = &until
		}
	}
	return c
}

func scanSeriesChange(row pgx.CollectableRow) (SeriesChange, error) {
	var c SeriesChange
	var iv string
	err := row.Scan(&c.Symbol, &iv, &c.First, &c.Last, &c.Rows)
	c.Interval, c.First, c.Last = market.Interval(iv), c.First.UTC(), c.Last.UTC()
	return c, err
}
