package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
	"marketfleet/store"
)

// Write paths compared by writePathRates: three ways to write one batch of
// tasks' bars through one session, in one transaction.
const (
	// pathUnnest is the worker's: one INSERT ... SELECT FROM unnest of
	// column arrays ... ON CONFLICT DO UPDATE (store.WriteBars).
	pathUnnest = "unnest"
	// pathCopy is COPY into a temporary table, then the same upsert
	// selecting from it.
	pathCopy = "copy-merge"
	// pathBatch is one upsert per task (the pooled design's statement),
	// all queued in one pgx.Batch: one round trip, one statement per task.
	pathBatch = "batch-per-task"
)

// writePaths lists the paths in report order.
var writePaths = []string{pathUnnest, pathCopy, pathBatch}

// copyTable is the session's staging table of pathCopy.
const copyTable = `CREATE TEMPORARY TABLE bars_in (
	symbol text, "interval" text, ts timestamptz, open float8, high float8, low float8,
	close float8, adj_close float8, volume int8, source text, as_of timestamptz, fetched_at timestamptz,
	provisional_until timestamptz) ON COMMIT DELETE ROWS`

// copyColumns are bars_in's, in the order of the upsert's insert list.
var copyColumns = []string{"symbol", "interval", "ts", "open", "high", "low", "close", "adj_close", "volume", "source", "as_of",
	"fetched_at", "provisional_until"}

// mergeStatement is the worker's upsert reading from bars_in instead of
// column arrays: the same conflict handling and result.
func mergeStatement() (string, error) {
	sql, _ := store.UpsertStatement(nil)
	start := strings.Index(sql, "SELECT s, i, t, o, h, l, c, a, v, src, ")
	end := strings.Index(sql, "ON CONFLICT")
	if start < 0 || end < start {
		return "", fmt.Errorf("write paths: the worker's upsert no longer has the expected shape")
	}
	return sql[:start] + "SELECT " + strings.Join(quoted(copyColumns), ", ") + " FROM bars_in\n    " + sql[end:], nil
}

func quoted(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `"` + c + `"`
	}
	return out
}

// writeBatch writes one batch (tasks' bars, one slice per task) with path
// through conn in one transaction, and returns the rows it changed.
func writeBatch(ctx context.Context, conn *pgx.Conn, path, merge string, work [][]market.Bar) (int64, error) {
	var changed int64
	count := func(rows pgx.Rows) error { // the upsert returns, per series, the rows it changed
		var n int64
		_, err := pgx.ForEachRow(rows, []any{new(string), new(string), new(time.Time), new(time.Time), &n}, func() error {
			changed += n
			return nil
		})
		return err
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		switch path {
		case pathUnnest:
			var all []market.Bar
			for _, t := range work {
				all = append(all, t...)
			}
			sql, args := store.UpsertStatement(all)
			return query(ctx, tx, sql, args, count)
		case pathCopy:
			var all []market.Bar
			for _, t := range work {
				all = append(all, t...)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bars_in"}, copyColumns, pgx.CopyFromSlice(len(all), func(i int) ([]any, error) {
				b := all[i]
				var until *time.Time
				if b.Provisional() {
					until = &b.ProvisionalUntil
				}
				return []any{b.Symbol, string(b.Interval), b.TS.UTC(), b.Open, b.High, b.Low, b.Close, b.AdjClose, b.Volume, b.Source, b.AsOf, b.AsOf, until}, nil
			})); err != nil {
				return err
			}
			return query(ctx, tx, merge, nil, count)
		case pathBatch:
			var batch pgx.Batch
			for _, t := range work {
				sql, args := store.UpsertStatement(t)
				batch.Queue(sql, args...)
			}
			br := tx.SendBatch(ctx, &batch)
			for range work {
				rows, err := br.Query()
				if err != nil {
					br.Close()
					return err
				}
				if err := count(rows); err != nil {
					br.Close()
					return err
				}
			}
			return br.Close()
		}
		return fmt.Errorf("write paths: unknown path %q", path)
	})
	return changed, err
}

// query runs a row-returning statement and reads its rows with read.
func query(ctx context.Context, tx pgx.Tx, sql string, args []any, read func(pgx.Rows) error) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	return read(rows)
}

// writePathRates measures, one after another on fresh databases of their
// own, the rows/s of every write path through one session, with the same
// batches as upsertCeiling (fresh inserts, generated before the clock
// starts). Compare them as ratios: they run minutes apart at most.
func (e *env) writePathRates(ctx context.Context, batches, batchTasks, barsPerTask int) (map[string]float64, error) {
	merge, err := mergeStatement()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, path := range writePaths {
		dbURL, drop, err := e.freshDatabase(ctx, "bench_write_path")
		if err != nil {
			return nil, err
		}
		rate, err := writePathRate(ctx, dbURL, path, merge, batches, batchTasks, barsPerTask)
		drop()
		if err != nil {
			return nil, fmt.Errorf("write path %s: %w", path, err)
		}
		out[path] = rate
	}
	return out, nil
}

// writePathRate writes the batches with path into the empty database at
// dbURL, which it migrates, and returns rows/s. Every write must change
// every row it submits.
func writePathRate(ctx context.Context, dbURL, path, merge string, batches, batchTasks, barsPerTask int) (float64, error) {
	flat, err := ceilBatches(ctx, batches, batchTasks, barsPerTask)
	if err != nil {
		return 0, err
	}
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: ceilApp})
	if err != nil {
		return 0, err
	}
	_, err = db.Migrate(ctx)
	_ = db.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, copyTable); err != nil {
		return 0, err
	}
	start := time.Now()
	rows := 0
	for i, bars := range flat {
		work := bySymbol(bars)
		changed, err := writeBatch(ctx, conn, path, merge, work)
		if err != nil {
			return 0, fmt.Errorf("batch %d: %w", i, err)
		}
		if changed != int64(len(bars)) {
			return 0, fmt.Errorf("batch %d changed %d of %d rows", i, changed, len(bars))
		}
		rows += len(bars)
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}

// bySymbol splits bars, each symbol's contiguous, into one slice per task.
func bySymbol(bars []market.Bar) [][]market.Bar {
	var out [][]market.Bar
	for i := 0; i < len(bars); {
		j := i + 1
		for j < len(bars) && bars[j].Symbol == bars[i].Symbol {
			j++
		}
		out = append(out, bars[i:j])
		i = j
	}
	return out
}
