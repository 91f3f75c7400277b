package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DelayedTask is a task a worker returned to the queue with a delay: its
// message (Stream, Seq) is not delivered again before RetryAt.
type DelayedTask struct {
	Stream string
	Seq    uint64
	Symbol string
	Kind   string
	// Class and Reason are the failure's error class and message.
	Class, Reason string
	Worker        string
	DelayedAt     time.Time
	RetryAt       time.Time
}

// maxDelayReason caps a stored reason.
const maxDelayReason = 200

// AddDelayedTasks records delays in one statement; a message delayed again
// replaces its row (the latest delay wins within one call too). Nothing to
// add is a no-op without a round trip. Errors are wrapped ("add delayed
// tasks: ..."); before migration 7 they carry SQLSTATE 42P01.
func (s *Store) AddDelayedTasks(ctx context.Context, ds []DelayedTask) error {
	type message struct {
		stream string
		seq    uint64
	}
	latest := map[message]int{}
	var keep []DelayedTask
	for _, d := range ds {
		k := message{d.Stream, d.Seq}
		if i, seen := latest[k]; seen {
			keep[i] = d
			continue
		}
		latest[k] = len(keep)
		keep = append(keep, d)
	}
	if len(keep) == 0 {
		return nil
	}
	n := len(keep)
	streams, seqs, symbols, kinds := make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	classes, reasons, workers := make([]string, n), make([]string, n), make([]string, n)
	delayed, retry := make([]time.Time, n), make([]time.Time, n)
	for i, d := range keep {
		streams[i], seqs[i], symbols[i], kinds[i] = d.Stream, int64(d.Seq), d.Symbol, d.Kind
		classes[i], reasons[i], workers[i] = d.Class, strings.ToValidUTF8(d.Reason[:min(len(d.Reason), maxDelayReason)], ""), d.Worker
		delayed[i], retry[i] = d.DelayedAt, d.RetryAt
	}
	return s.do("add delayed tasks", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `
INSERT INTO delayed_tasks AS d (stream, stream_seq, symbol, kind, class, reason, worker, delayed_at, retry_at)
SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[])
ON CONFLICT (stream, stream_seq) DO UPDATE SET
    symbol = EXCLUDED.symbol, kind = EXCLUDED.kind, class = EXCLUDED.class, reason = EXCLUDED.reason,
    worker = EXCLUDED.worker, delayed_at = EXCLUDED.delayed_at, retry_at = EXCLUDED.retry_at`,
			streams, seqs, symbols, kinds, classes, reasons, workers, delayed, retry)
		return err
	})
}

// DelayedSummary is how many tasks wait on a delay at some instant, and the
// one that waits longest.
type DelayedSummary struct {
	Waiting int64
	// Longest is the task whose delay ends last; zero when none waits.
	Longest DelayedTask
}

// DelayedAt summarises the delays not yet over at now. Errors are wrapped
// ("delayed tasks: ..."); before migration 7 they carry SQLSTATE 42P01.
func (s *Store) DelayedAt(ctx context.Context, now time.Time) (DelayedSummary, error) {
	var sum DelayedSummary
	err := s.do("delayed tasks", func(conn *pgx.Conn) error {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM delayed_tasks WHERE retry_at > $1`, now).Scan(&sum.Waiting); err != nil {
			return err
		}
		l := &sum.Longest
		var seq int64
		err := conn.QueryRow(ctx, `SELECT stream, stream_seq, symbol, kind, class, reason, worker, delayed_at, retry_at
			FROM delayed_tasks WHERE retry_at > $1 ORDER BY retry_at DESC LIMIT 1`, now).
			Scan(&l.Stream, &seq, &l.Symbol, &l.Kind, &l.Class, &l.Reason, &l.Worker, &l.DelayedAt, &l.RetryAt)
		l.Seq = uint64(seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return sum, err
}

// PruneDelayedTasks deletes the rows whose delay ended before before, and
// returns how many. Errors are wrapped ("prune delayed tasks: ...").
func (s *Store) PruneDelayedTasks(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.do("prune delayed tasks", func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `DELETE FROM delayed_tasks WHERE retry_at < $1`, before)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
