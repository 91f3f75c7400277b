package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// CountSessions returns how many sessions connected to the Store's database
// have an application_name starting with prefix (for the fleet:
// "marketfleet-worker/"), from pg_stat_activity. The Store's own session
// counts if it matches.
func (s *Store) CountSessions(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.do("count sessions", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND starts_with(application_name, $1)`, prefix).Scan(&n)
	})
	return n, err
}

// CountBars returns how many rows of interval iv with ts in [from, to) exist
// for symbols.
func (s *Store) CountBars(ctx context.Context, symbols []string, iv market.Interval, from, to time.Time) (int64, error) {
	var n int64
	err := s.do("count bars", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM bars WHERE symbol = ANY($1) AND "interval" = $2 AND ts >= $3 AND ts < $4`,
			symbols, string(iv), from, to).Scan(&n)
	})
	return n, err
}

// EnsureDatabase creates database name on the Store's server unless it
// exists, and reports whether it created it. The Store's role needs the
// CREATEDB privilege.
func (s *Store) EnsureDatabase(ctx context.Context, name string) (bool, error) {
	created := false
	err := s.do("ensure database "+name, func(conn *pgx.Conn) error {
		var exists bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
		if err != nil || exists {
			return err
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if SQLState(err) == "42P04" { // duplicate_database: created meanwhile
			return nil
		}
		created = err == nil
		return err
	})
	return created, err
}

// Ping checks the session with a round trip, so that a session the server
// ended while it was idle (terminated backend, restart) is noticed, dropped
// and reported (Config.OnSession) now rather than at the next write.
func (s *Store) Ping(ctx context.Context) error {
	return s.do("ping", func(conn *pgx.Conn) error { return conn.Ping(ctx) })
}

// DropDatabase drops database name if it exists, ending the sessions still
// connected to it (WITH (FORCE)). The Store's role must own it or be a
// superuser.
func (s *Store) DropDatabase(ctx context.Context, name string) error {
	return s.do("drop database "+name, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	})
}
