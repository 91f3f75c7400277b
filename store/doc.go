// Package store is the fleet's only door to PostgreSQL: a Store owns exactly
// one session (one *pgx.Conn) for its whole life, and offers the reads and
// writes the fleet needs through it, without domain logic of its own.
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
// lost its budget slot). Config.ConnectGate makes every dial ask a gate
// first (the worker's slot lease), so no code path can open a session the
// fleet's budget does not allow.
//
// Every statement goes through one of two helpers (tx.go): outside a
// transaction, do; inside one, a Tx from InTx, which begins at its first
// statement, rolls back under a context that survives cancellation, and
// commits once. Both drop a session the error left closed (the next
// EnsureSession dials a new one) and mark the error with its outcome class
// by SQLSTATE: data the database refuses (classes 22 and 23) is
// outcome.Data, everything else transient. Never by message text.
//
// What the fleet reads and writes: bars (WriteBars, which reports per series
// the bars it changed; ReadBars; Tails), corporate actions and the
// restatements they cause (RecordActions, Unrestated, Restate, which claims
// each action per series so that it is applied once; Actions and
// RestatementsSince for fleetctl), the history's completeness (Audit, one
// pass over the bars against what an Expectation says they should hold;
// RecordHoles, RecordAudit, LastAudit, FinalityAt, DueProvisional, Restated),
// features rows (WriteFeatures,
// LockFeatures), the fleet-wide series locks (LockSeries, session-level
// advisory locks that die with the session), the server's connection limits
// and sessions by application (ServerLimits), and the per-minute task
// counts behind fleetctl status.
//
// The schema lives in migrations/ as numbered SQL files embedded in the
// binary; Migrate applies the missing ones in one transaction under an
// advisory lock, so many workers starting together migrate once.
package store
