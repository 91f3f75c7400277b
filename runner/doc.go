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
// Only the goroutine running Run touches the store; fetches fan out under a
// bounded errgroup and join before the write.
//
// On shutdown (ctx cancelled) Run stops fetching, finishes the current batch
// (fetch, commit, ack) under a context that survives the cancellation for up
// to the grace period, Naks messages it had received but not started, and
// returns nil.
package runner
