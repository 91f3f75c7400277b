// Package slots enforces the fleet's connection budget with leases in a NATS
// KV bucket: a worker may open its PostgreSQL session only while it holds
// one of N slots, so the fleet never holds more than N sessions, however
// many replicas run.
//
// A slot is the key "slot.<i>" (0 <= i < N), created with jetstream's
// Create (which fails when the key exists) and a per-key TTL. The holder
// renews it every Renew with a compare-and-set on its revision, carrying the
// TTL again. If the holder dies, renewals stop and the server removes the key
// after TTL, leaving a delete marker that waiting workers see at once.
//
// The holder trusts its lease only until TTL·3/4 after it sent its last
// successful renewal; the server expires it no earlier than TTL after that
// renewal was written, which is later. When the renewals fail for that long,
// or a renewal finds the key taken by someone else, the lease is lost: Lost
// is closed and Check fails, and the worker cuts its session (store.Abort)
// before any other worker can take the slot.
//
// N is the budget published under "budget" by the holder of slot 0 (which
// computes it from the live server, see package budget). Until a budget is
// published only slot 0 can be taken. A holder whose slot index is not below
// a newly published, smaller budget gives its slot up (Revoked).
//
// Waiting workers keep a key "wait.<holder>" alive so that operators can see
// them (fleetctl budget).
package slots
