package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/market"
	"marketfleet/store"
)

// execer runs one statement in its own implicit transaction: a
// *pgxpool.Pool (which acquires a connection for it) or a *pgx.Conn.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// upsert writes the bars of one task with one statement: the real worker's
// (store.UpsertStatement), so that the designs differ only in how they use
// connections and transactions, never in the SQL.
func upsert(ctx context.Context, db execer, bars []market.Bar) error {
	sql, args := store.UpsertStatement(bars)
	_, err := db.Exec(ctx, sql, args...)
	return err
}
