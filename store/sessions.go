package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// CountSessions returns how many sessions connected to the Store's database
// have an application_name starting with prefix (for the fleet:
// "marketfleet-worker/"), from pg_stat_activity. The Store's own session
// counts if it matches.
func (s *Store) CountSessions(ctx context.Context, prefix string) (int, error) {
	conn, err := s.session()
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	var n int
	err = conn.QueryRow(ctx,
		`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, $1)`, prefix).Scan(&n)
	s.checkLost(err)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// CountBars returns how many rows of interval iv with ts in [from, to) exist
// for symbols.
func (s *Store) CountBars(ctx context.Context, symbols []string, iv market.Interval, from, to time.Time) (int64, error) {
	conn, err := s.session()
	if err != nil {
		return 0, fmt.Errorf("count bars: %w", err)
	}
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM bars WHERE symbol = ANY($1) AND "interval" = $2 AND ts >= $3 AND ts < $4`,
		symbols, string(iv), from, to).Scan(&n)
	s.checkLost(err)
	if err != nil {
		return 0, fmt.Errorf("count bars: %w", err)
	}
	return n, nil
}

// EnsureDatabase creates database name on the Store's server unless it
// exists, and reports whether it created it. The Store's role needs the
// CREATEDB privilege.
func (s *Store) EnsureDatabase(ctx context.Context, name string) (bool, error) {
	conn, err := s.session()
	if err != nil {
		return false, fmt.Errorf("ensure database %s: %w", name, err)
	}
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if SQLState(err) == "42P04" { // duplicate_database: created meanwhile
			return false, nil
		}
	}
	s.checkLost(err)
	if err != nil {
		return false, fmt.Errorf("ensure database %s: %w", name, err)
	}
	return !exists, nil
}

// Ping checks the session with a round trip, so that a session the server
// ended while it was idle (terminated backend, restart) is noticed, dropped
// and reported (WithSessionHook) now rather than at the next write.
func (s *Store) Ping(ctx context.Context) error {
	conn, err := s.session()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	err = conn.Ping(ctx)
	s.checkLost(err)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// DropDatabase drops database name if it exists, ending the sessions still
// connected to it (WITH (FORCE)). The Store's role must own it or be a
// superuser.
func (s *Store) DropDatabase(ctx context.Context, name string) error {
	conn, err := s.session()
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	s.checkLost(err)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
