// Package leases makes the tasks of a series exclusive across the fleet
// without a PostgreSQL session: one key per series held in a NATS KV
// bucket, with a TTL, renewed while its task runs.
//
// The fleet's usual series lock is a session-level advisory lock
// (store.Store.LockSeries): free, and it dies with the session. Behind a
// transaction-mode pooler such as PgBouncer there is no session to hold it,
// so a worker configured for one (FLEET_DB_POOLER) takes these leases
// instead, with the same contract: LockSeries reports which series it took
// (false: another worker runs a task of it), UnlockSeries releases them,
// and Epoch changes when a held lease was lost (it expired before its
// renewal, or someone deleted it), so the runner takes its locks again
// before it writes. A killed worker's leases expire after the TTL.
//
// A lease is created with the key's expected last revision 0 (only if
// absent), renewed by writing it again expecting the revision it holds,
// and released by deleting it expecting that revision: a lease that passed
// to another worker is never renewed or released by the one that lost it.
package leases
