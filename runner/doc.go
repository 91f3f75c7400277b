// Package runner is a worker's batch loop: it takes a small batch of tasks
// from JetStream (high-priority ones first), locks each task's series
// fleet-wide, narrows incremental tasks to what is not stored yet, fetches
// their market data concurrently (network I/O only), writes every bar of the
// batch through the worker's single PostgreSQL session in one transaction,
// commits, updates features and enqueues features follow-ups, and only then
// acknowledges.
//
// Handlers never ack. Each task's outcome is an error value, and one switch
// (outcome.go) turns it into an action: nil → confirmed Ack after the commit;
// a permanent error (invalid envelope, unknown symbol at the source, data the
// database refuses) → TermWithReason; a busy series (ErrBusy) → a short
// NakWithDelay; anything else → NakWithDelay with exponential backoff and
// jitter computed from the delivery count. A failure before commit
// acknowledges nothing.
//
// Between batches (never during one) Run calls Config.Housekeeping, the only
// other user of the session: the worker computes its connection budget there.
//
// Batches are pipelined, up to three per worker: while batch n+1's source
// fetches run, batch n is written, and batch n-1's messages are being
// acknowledged. Only the goroutine running Run touches the store, one
// statement at a time: the worker still holds exactly one session. Source
// fetches of all batches in flight share FetchConcurrency slots; two tasks
// of one series are never in flight together (the later one is busy).
// Series locks taken in a session that was lost meanwhile are taken again
// in the new one before the batch writes.
//
// On shutdown (ctx cancelled) Run stops fetching, finishes the batches in
// hand (fetch, commit, ack) under a context that survives the cancellation
// for up to the grace period, Naks messages it had received but not
// started, and returns nil.
package runner
