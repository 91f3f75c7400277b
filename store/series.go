package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// seriesLockSpace is the first key of the session-level advisory locks that
// make a series' tasks exclusive across the fleet ("coll" in ASCII); the
// second key is a hash of the series. Two-key locks never collide with the
// one-key migration lock, and this space differs from the features lock's.
const seriesLockSpace int32 = 0x636f6c6c

// LockSeries tries, in one round trip, to take the fleet-wide lock of each
// series (a session-level advisory lock, so it needs no open transaction and
// dies with the session: a crashed worker never leaves one behind). It
// reports which it took; a false means another session holds it: another
// worker is running a task of that series. Different series may share a lock
// by hash collision, which only delays one of them. Release each taken lock
// once with UnlockSeries.
func (s *Store) LockSeries(ctx context.Context, series []market.Series) ([]bool, error) {
	if len(series) == 0 {
		return nil, nil
	}
	symbols, intervals := seriesColumns(series)
	var took []bool
	err := s.do("lock series", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT pg_try_advisory_lock($1, hashtext(s || '/' || i))
			FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(s, i, n) ORDER BY n`,
			seriesLockSpace, symbols, intervals)
		if err == nil {
			took, err = pgx.CollectRows(rows, pgx.RowTo[bool])
		}
		return err
	})
	return took, err
}

// UnlockSeries releases, in one round trip, one hold of the lock of each
// series, as taken by a LockSeries that reported true for it on the current
// session (locks are re-entrant: a worker holding several batches' locks
// releases each batch's own). Without a session there is nothing to release
// (the locks died with it).
func (s *Store) UnlockSeries(ctx context.Context, series []market.Series) error {
	if len(series) == 0 {
		return nil
	}
	if !s.Up() {
		return nil
	}
	symbols, intervals := seriesColumns(series)
	return s.do("unlock series", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(s || '/' || i))
			FROM unnest($2::text[], $3::text[]) AS u(s, i)`, seriesLockSpace, symbols, intervals)
		return err
	})
}

// Tail is where the stored history of a series ends: what an incremental
// collection fetches again.
type Tail struct {
	// Last is the start of the latest stored bar (UTC).
	Last time.Time
	// FirstProvisional is the start of the earliest provisional bar (UTC),
	// zero when every bar is final.
	FirstProvisional time.Time
}

// Tails returns, in one round trip, the tail of each series that has bars;
// series without bars are absent.
func (s *Store) Tails(ctx context.Context, series []market.Series) (map[market.Series]Tail, error) {
	out := map[market.Series]Tail{}
	if len(series) == 0 {
		return out, nil
	}
	err := s.do("series tails", func(conn *pgx.Conn) (err error) {
		out, err = tails(ctx, conn, series)
		return err
	})
	return out, err
}

// Tails is (*Store).Tails inside the transaction.
func (t *Tx) Tails(ctx context.Context, series []market.Series) (map[market.Series]Tail, error) {
	out := map[market.Series]Tail{}
	if len(series) == 0 {
		return out, nil
	}
	err := t.run(ctx, "series tails", func(q querier) (err error) {
		out, err = tails(ctx, q, series)
		return err
	})
	return out, err
}

func tails(ctx context.Context, q querier, series []market.Series) (map[market.Series]Tail, error) {
	out := make(map[market.Series]Tail, len(series))
	symbols, intervals := seriesColumns(series)
	rows, err := q.Query(ctx, `SELECT u.s, u.i, last.ts,
		    (SELECT min(ts) FROM bars WHERE symbol = u.s AND "interval" = u.i AND provisional_until IS NOT NULL)
		FROM unnest($1::text[], $2::text[]) AS u(s, i),
		LATERAL (SELECT max(ts) AS ts FROM bars WHERE symbol = u.s AND "interval" = u.i) last
		WHERE last.ts IS NOT NULL`, symbols, intervals)
	if err != nil {
		return nil, err
	}
	var sym, iv string
	var last time.Time
	var prov *time.Time
	_, err = pgx.ForEachRow(rows, []any{&sym, &iv, &last, &prov}, func() error {
		t := Tail{Last: last.UTC()}
		if prov != nil {
			t.FirstProvisional = prov.UTC()
		}
		out[market.Series{Symbol: sym, Interval: market.Interval(iv)}] = t
		return nil
	})
	return out, err
}

func seriesColumns(series []market.Series) (symbols, intervals []string) {
	symbols, intervals = make([]string, len(series)), make([]string, len(series))
	for i, s := range series {
		symbols[i], intervals[i] = s.Symbol, string(s.Interval)
	}
	return symbols, intervals
}
