package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// TaskCount is what one worker did with the tasks of one kind in one minute.
type TaskCount struct {
	// Worker is the worker's id; Kind the task kind.
	Worker string
	// Minute is the start of the minute (UTC once stored).
	Minute time.Time
	Kind   string
	// OK tasks were acknowledged, Retried ones were put back for another
	// delivery, DeadLettered ones were given up on.
	OK, Retried, DeadLettered int64
}

// countKey identifies a task_counts row.
type countKey struct {
	worker, kind string
	minute       time.Time
}

// upsertTaskCounts adds many rows' counts in one statement.
const upsertTaskCounts = `
INSERT INTO task_counts AS c (worker, minute, kind, ok, retried, dead_lettered)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int8[], $5::int8[], $6::int8[])
ON CONFLICT (worker, minute, kind) DO UPDATE SET
    ok = c.ok + EXCLUDED.ok,
    retried = c.retried + EXCLUDED.retried,
    dead_lettered = c.dead_lettered + EXCLUDED.dead_lettered`

// AddTaskCounts adds counts to the task_counts table in one statement (one
// round trip, however many rows): a row that exists is added to, not
// replaced. Each Minute is truncated to the minute, and counts sharing a
// (worker, minute, kind) are summed first. Counts that are all zero are
// skipped; nothing to add is a no-op without a round trip. A negative count
// is refused by the table's check constraint (outcome.Data). Errors are
// wrapped ("add task counts: ..."); if one cost the session, the Store drops
// it and the next EnsureSession reconnects.
func (s *Store) AddTaskCounts(ctx context.Context, counts []TaskCount) error {
	merged := mergeCounts(counts)
	if len(merged) == 0 {
		return nil
	}
	n := len(merged)
	workers, minutes, kinds := make([]string, n), make([]time.Time, n), make([]string, n)
	ok, retried, dead := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, c := range merged {
		workers[i], minutes[i], kinds[i] = c.Worker, c.Minute, c.Kind
		ok[i], retried[i], dead[i] = c.OK, c.Retried, c.DeadLettered
	}
	return s.do("add task counts", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, upsertTaskCounts, workers, minutes, kinds, ok, retried, dead)
		return err
	})
}

// mergeCounts truncates minutes and sums counts with the same key (one
// statement may not touch a row twice), in first-seen order, dropping
// all-zero counts.
func mergeCounts(counts []TaskCount) []TaskCount {
	idx := make(map[countKey]int, len(counts))
	out := make([]TaskCount, 0, len(counts))
	for _, c := range counts {
		if c.OK == 0 && c.Retried == 0 && c.DeadLettered == 0 {
			continue
		}
		c.Minute = c.Minute.UTC().Truncate(time.Minute)
		k := countKey{worker: c.Worker, kind: c.Kind, minute: c.Minute}
		if i, seen := idx[k]; seen {
			out[i].OK += c.OK
			out[i].Retried += c.Retried
			out[i].DeadLettered += c.DeadLettered
			continue
		}
		idx[k] = len(out)
		out = append(out, c)
	}
	return out
}

// TaskCountsSince returns the fleet's totals per task kind over the rows
// whose minute is at or after since (so the minute containing since counts
// in full once since is truncated to it). Worker and Minute of the totals
// are zero; kinds without rows are absent, and no rows give an empty map.
// Errors are wrapped ("task counts: ..."); a schema without the table
// (before migration 3) fails with SQLSTATE 42P01.
func (s *Store) TaskCountsSince(ctx context.Context, since time.Time) (map[string]TaskCount, error) {
	out := map[string]TaskCount{}
	err := s.do("task counts", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT kind, sum(ok)::int8, sum(retried)::int8, sum(dead_lettered)::int8
			FROM task_counts WHERE minute >= $1 GROUP BY kind`, since)
		if err != nil {
			return err
		}
		var c TaskCount
		_, err = pgx.ForEachRow(rows, []any{&c.Kind, &c.OK, &c.Retried, &c.DeadLettered}, func() error {
			out[c.Kind] = c
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneTaskCounts deletes the task_counts rows whose minute is before
// before, and returns how many it deleted. Errors are wrapped ("prune task
// counts: ...").
func (s *Store) PruneTaskCounts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.do("prune task counts", func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `DELETE FROM task_counts WHERE minute < $1`, before)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// SeriesFreshness is the newest stored bar of a series and when the series
// was last written.
type SeriesFreshness struct {
	Symbol   string
	Interval market.Interval
	// LastBar is the start of the series' newest bar (UTC).
	LastBar time.Time
	// LastWrite is the latest updated_at of the series' bars: when a bar of
	// it was last inserted or changed (UTC).
	LastWrite time.Time
}

// stalestSeries walks the distinct series with a skip scan of the primary
// key (one index probe per series, not a scan of every bar), finds each
// one's newest bar with another probe, keeps the $1 stalest, and only for
// those reads the latest updated_at (a scan of those series' rows alone).
const stalestSeries = `
WITH RECURSIVE series AS (
    (SELECT symbol, "interval" FROM bars ORDER BY symbol, "interval" LIMIT 1)
    UNION ALL
    SELECT n.symbol, n."interval" FROM series s, LATERAL (
        SELECT b.symbol, b."interval" FROM bars b
        WHERE (b.symbol, b."interval") > (s.symbol, s."interval")
        ORDER BY b.symbol, b."interval" LIMIT 1) n
), stalest AS (
    SELECT s.symbol, s."interval",
           (SELECT max(ts) FROM bars b WHERE b.symbol = s.symbol AND b."interval" = s."interval") AS last_bar
    FROM series s
    ORDER BY last_bar, s.symbol, s."interval"
    LIMIT $1
)
SELECT st.symbol, st."interval", st.last_bar,
       (SELECT max(updated_at) FROM bars b WHERE b.symbol = st.symbol AND b."interval" = st."interval")
FROM stalest st
ORDER BY st.last_bar, st.symbol, st."interval"`

// StalestSeries returns at most limit series, those whose newest bar is the
// oldest first (ties by symbol, then interval), across every interval. A
// limit below 1 returns none without a round trip; no bars give an empty
// slice. Errors are wrapped ("stalest series: ...").
func (s *Store) StalestSeries(ctx context.Context, limit int) ([]SeriesFreshness, error) {
	if limit < 1 {
		return nil, nil
	}
	var out []SeriesFreshness
	err := s.do("stalest series", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, stalestSeries, limit)
		if err == nil {
			out, err = pgx.CollectRows(rows, scanFreshness)
		}
		return err
	})
	return out, err
}

func scanFreshness(row pgx.CollectableRow) (SeriesFreshness, error) {
	var f SeriesFreshness
	var iv string
	err := row.Scan(&f.Symbol, &iv, &f.LastBar, &f.LastWrite)
	f.Interval, f.LastBar, f.LastWrite = market.Interval(iv), f.LastBar.UTC(), f.LastWrite.UTC()
	return f, err
}
