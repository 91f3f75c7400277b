// Package store is the fleet's only door to PostgreSQL: a Store owns exactly
// one session (one *pgx.Conn) for its whole life.
//
// There is no pool, and no way to get a second connection out of a Store: the
// connection is unexported, Open is the only constructor, and EnsureSession
// reconnects by closing the broken session before it dials a new one, so a
// Store never holds two sessions, even for a moment. A worker process creates
// one Store, so the fleet's sessions equal its worker replicas by construction.
// A test in this package fails the build if production code imports pgxpool
// or dials PostgreSQL anywhere but here.
//
// A Store is not safe for concurrent use, exactly like the *pgx.Conn it wraps:
// one goroutine (the worker's batch loop) owns it. The one exception is
// Abort, which cuts the session's socket from any goroutine (a worker that
// lost its budget slot). WithConnectGate makes every dial ask a gate first
// (the worker's slot lease), so no code path can open a session the fleet's
// budget does not allow.
//
// Besides the bars upsert (which reports, per series, the bars it changed),
// a Store reads what the fleet needs through the same session: the server's
// connection limits and sessions by application (ServerLimits), the last
// stored bar per series (LastBars), the fleet-wide series locks
// (LockSeries, session-level advisory locks that die with the session), and
// keeps the features table current (UpdateFeatures).
//
// The schema lives in migrations/ as numbered SQL files embedded in the
// binary; Migrate applies the missing ones in one transaction under an
// advisory lock, so many workers starting together migrate once.
//
// Errors are classified by SQLSTATE, never by text: see Classify in
// errors.go.
package store
