package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ServerLimits are the server settings that bound client sessions, and the
// client sessions open right now, as seen from the Store's session.
type ServerLimits struct {
	// MaxConnections is the server's max_connections.
	MaxConnections int
	// SuperuserReserved is superuser_reserved_connections: slots only
	// superusers may take.
	SuperuserReserved int
	// RoleReserved is reserved_connections (PostgreSQL 16+; 0 before):
	// slots only roles with pg_use_reserved_connections may take.
	RoleReserved int
	// Sessions counts client sessions on the whole server (every database:
	// max_connections is server-wide) by application_name. Sessions whose
	// details the Store's role may not see (other roles' sessions, without
	// pg_read_all_stats) are counted under HiddenApp, never left out.
	Sessions map[string]int
	// SelfApp is the application_name of the Store's own session, which is
	// counted in Sessions.
	SelfApp string
}

// HiddenApp is the Sessions key of sessions whose application_name the
// Store's role may not read.
const HiddenApp = "(hidden: grant pg_read_all_stats to see it)"

// ServerLimits reads the connection limits and the client sessions open on
// the server. Background processes (autovacuum, WAL writer, replication) are
// not counted: they do not take max_connections slots.
func (s *Store) ServerLimits(ctx context.Context) (ServerLimits, error) {
	var l ServerLimits
	err := s.do("read server limits", func(conn *pgx.Conn) (err error) {
		l, err = serverLimits(ctx, conn)
		return err
	})
	if err != nil {
		return ServerLimits{}, err
	}
	return l, nil
}

func serverLimits(ctx context.Context, conn *pgx.Conn) (ServerLimits, error) {
	l := ServerLimits{Sessions: map[string]int{}}
	err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int,
		coalesce(current_setting('reserved_connections', true), '0')::int,
		current_setting('application_name')`).
		Scan(&l.MaxConnections, &l.SuperuserReserved, &l.RoleReserved, &l.SelfApp)
	if err != nil {
		return l, err
	}
	// backend_type is NULL on rows the role may not inspect: count them
	// (conservatively) as client sessions.
	rows, err := conn.Query(ctx, `SELECT coalesce(application_name, $1), count(*)::int
		FROM pg_stat_activity
		WHERE coalesce(backend_type, 'client backend') = 'client backend'
		GROUP BY 1`, HiddenApp)
	if err != nil {
		return l, err
	}
	var app string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&app, &n}, func() error {
		l.Sessions[app] += n
		return nil
	})
	return l, err
}
