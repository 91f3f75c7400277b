package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/features"
	"marketfleet/market"
)

// AllHistory, passed to ReadBars as limitBefore, reads every bar before from.
const AllHistory = -1

// featureLockSpace is the first key of the transaction-level advisory lock
// that LockFeatures takes per series ("feat" in ASCII); the second key is a
// hash of the series. Two-key advisory locks never collide with the one-key
// migration lock.
const featureLockSpace int32 = 0x66656174

// selectBars returns up to $4 bars of one series before $3 (all of them when
// $4 is NULL) and every bar at or after $3, in ascending ts order.
const selectBars = `
SELECT symbol, "interval", ts, open, high, low, close, adj_close, volume, source, provisional_until FROM (
    (SELECT * FROM bars WHERE symbol = $1 AND "interval" = $2 AND ts < $3 ORDER BY ts DESC LIMIT $4)
    UNION ALL
    (SELECT * FROM bars WHERE symbol = $1 AND "interval" = $2 AND ts >= $3)
) b ORDER BY ts`

// upsertFeatures writes many feature rows in one statement (columns as
// arrays, unnest back to rows). A row whose values did not change is left
// alone, computed_at included.
const upsertFeatures = `
INSERT INTO features AS f (symbol, "interval", ts, simple_return, log_return, sma5, sma20, sma50,
                           ema5, ema20, ema50, rsi14, vol20, volume_z20, provisional)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[],
                     $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[],
                     $13::float8[], $14::float8[], $15::bool[])
ON CONFLICT (symbol, "interval", ts) DO UPDATE SET
    simple_return = EXCLUDED.simple_return, log_return = EXCLUDED.log_return, sma5 = EXCLUDED.sma5,
    sma20 = EXCLUDED.sma20, sma50 = EXCLUDED.sma50, ema5 = EXCLUDED.ema5, ema20 = EXCLUDED.ema20,
    ema50 = EXCLUDED.ema50, rsi14 = EXCLUDED.rsi14, vol20 = EXCLUDED.vol20, volume_z20 = EXCLUDED.volume_z20,
    provisional = EXCLUDED.provisional, computed_at = now()
WHERE (f.simple_return, f.log_return, f.sma5, f.sma20, f.sma50, f.ema5, f.ema20, f.ema50, f.rsi14, f.vol20, f.volume_z20,
       f.provisional)
      IS DISTINCT FROM
      (EXCLUDED.simple_return, EXCLUDED.log_return, EXCLUDED.sma5, EXCLUDED.sma20, EXCLUDED.sma50, EXCLUDED.ema5,
       EXCLUDED.ema20, EXCLUDED.ema50, EXCLUDED.rsi14, EXCLUDED.vol20, EXCLUDED.volume_z20, EXCLUDED.provisional)`

// ReadBars returns bars of one series (symbol at interval iv), in ascending
// ts order: the limitBefore latest bars that start before from, then every
// bar that starts at or after from. limitBefore 0 reads none before from;
// AllHistory (any negative value) reads all of them, which is what exact EMA
// and RSI need (see package features). The read is one statement, so one
// snapshot. No bars is an empty result, not an error.
//
// It returns an error wrapping market.ErrInvalidInterval for an invalid iv,
// and otherwise database errors wrapped "read bars SYMBOL IV: ...".
func (s *Store) ReadBars(ctx context.Context, symbol string, iv market.Interval, from time.Time, limitBefore int) ([]market.Bar, error) {
	if !iv.Valid() {
		return nil, fmt.Errorf("read bars %s %q: %w", symbol, iv, market.ErrInvalidInterval)
	}
	var bars []market.Bar
	err := s.do(fmt.Sprintf("read bars %s %s", symbol, iv), func(conn *pgx.Conn) (err error) {
		bars, err = readBars(ctx, conn, symbol, iv, from, limitBefore)
		return err
	})
	return bars, err
}

// ReadBars is (*Store).ReadBars inside the transaction: it sees the
// transaction's own writes.
func (t *Tx) ReadBars(ctx context.Context, symbol string, iv market.Interval, from time.Time, limitBefore int) ([]market.Bar, error) {
	if !iv.Valid() {
		return nil, fmt.Errorf("read bars %s %q: %w", symbol, iv, market.ErrInvalidInterval)
	}
	var bars []market.Bar
	err := t.run(ctx, fmt.Sprintf("read bars %s %s", symbol, iv), func(q querier) (err error) {
		bars, err = readBars(ctx, q, symbol, iv, from, limitBefore)
		return err
	})
	return bars, err
}

func readBars(ctx context.Context, q querier, symbol string, iv market.Interval, from time.Time, limitBefore int) ([]market.Bar, error) {
	var limit *int64
	if limitBefore >= 0 {
		n := int64(limitBefore)
		limit = &n
	}
	rows, err := q.Query(ctx, selectBars, symbol, string(iv), from, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanBar)
}

func scanBar(row pgx.CollectableRow) (market.Bar, error) {
	var b market.Bar
	var iv string
	var until *time.Time
	err := row.Scan(&b.Symbol, &iv, &b.TS, &b.Open, &b.High, &b.Low, &b.Close, &b.AdjClose, &b.Volume, &b.Source, &until)
	b.Interval, b.TS = market.Interval(iv), b.TS.UTC()
	if until != nil {
		b.ProvisionalUntil = until.UTC()
	}
	return b, err
}

// LastBar returns the start (UTC) of the latest stored bar of symbol at
// interval iv, and false with a zero time when there is none. It returns an
// error wrapping market.ErrInvalidInterval for an invalid iv, and otherwise
// database errors wrapped "last bar SYMBOL IV: ...".
func (s *Store) LastBar(ctx context.Context, symbol string, iv market.Interval) (time.Time, bool, error) {
	if !iv.Valid() {
		return time.Time{}, false, fmt.Errorf("last bar %s %q: %w", symbol, iv, market.ErrInvalidInterval)
	}
	var ts *time.Time
	err := s.do(fmt.Sprintf("last bar %s %s", symbol, iv), func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT max(ts) FROM bars WHERE symbol = $1 AND "interval" = $2`, symbol, string(iv)).Scan(&ts)
	})
	if err != nil || ts == nil {
		return time.Time{}, false, err
	}
	return ts.UTC(), true, nil
}

// WriteFeatures upserts rows in a transaction of their own and returns how
// many rows it inserted or updated: rows whose values did not change are not
// rewritten (computed_at keeps its value), so writing the same rows again
// returns 0. No rows is a no-op without a round trip. Rows with the same
// (symbol, interval, ts) are de-duplicated first, the last one winning. On
// any error nothing is committed; the error is wrapped ("write features:
// ...") and marked with its outcome class.
func (s *Store) WriteFeatures(ctx context.Context, rows []features.Row) (int64, error) {
	var changed int64
	err := s.InTx(ctx, func(tx *Tx) (err error) {
		changed, err = tx.WriteFeatures(ctx, rows)
		return err
	})
	return changed, err
}

// WriteFeatures is (*Store).WriteFeatures inside the transaction.
func (t *Tx) WriteFeatures(ctx context.Context, rows []features.Row) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	c := featureColumnsOf(dedupeFeatures(rows))
	var changed int64
	err := t.run(ctx, "write features", func(q querier) error {
		tag, err := q.Exec(ctx, upsertFeatures, c.symbol, c.interval, c.ts, c.ret, c.logRet, c.sma5, c.sma20,
			c.sma50, c.ema5, c.ema20, c.ema50, c.rsi14, c.vol20, c.volumeZ20, c.provisional)
		changed = tag.RowsAffected()
		return err
	})
	return changed, err
}

// LockFeatures waits for and takes the transaction-level lock that orders
// the features updates of series: two transactions that each read a
// series' bars and write its features cannot interleave, so features
// computed from older bars never overwrite ones computed from newer. The
// lock is released at commit or rollback.
func (t *Tx) LockFeatures(ctx context.Context, series market.Series) error {
	return t.run(ctx, "lock features "+series.String(), func(q querier) error {
		_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))`,
			featureLockSpace, series.Symbol, string(series.Interval))
		return err
	})
}

// dedupeFeatures keeps the last row of each key, in first-seen order.
func dedupeFeatures(rows []features.Row) []features.Row {
	return lastByKey(rows, func(r features.Row) market.Key {
		return market.Key{Symbol: r.Symbol, Interval: r.Interval, TS: r.TS.UnixMicro()}
	})
}

type featureColumns struct {
	symbol, interval                      []string
	ts                                    []time.Time
	ret, logRet, sma5, sma20, sma50, ema5 []*float64
	ema20, ema50, rsi14, vol20, volumeZ20 []*float64
	provisional                           []bool
}

func featureColumnsOf(rows []features.Row) featureColumns {
	n := len(rows)
	floats := func() []*float64 { return make([]*float64, n) }
	c := featureColumns{
		symbol: make([]string, n), interval: make([]string, n), ts: make([]time.Time, n),
		ret: floats(), logRet: floats(), sma5: floats(), sma20: floats(), sma50: floats(), ema5: floats(),
		ema20: floats(), ema50: floats(), rsi14: floats(), vol20: floats(), volumeZ20: floats(),
		provisional: make([]bool, n),
	}
	for i, r := range rows {
		c.symbol[i], c.interval[i], c.ts[i] = r.Symbol, string(r.Interval), r.TS.UTC()
		c.ret[i], c.logRet[i], c.sma5[i], c.sma20[i], c.sma50[i] = r.Return, r.LogReturn, r.SMA5, r.SMA20, r.SMA50
		c.ema5[i], c.ema20[i], c.ema50[i] = r.EMA5, r.EMA20, r.EMA50
		c.rsi14[i], c.vol20[i], c.volumeZ20[i] = r.RSI14, r.Vol20, r.VolumeZ20
		c.provisional[i] = r.Provisional
	}
	return c
}
