// Package runner is a worker's batch loop: it takes a small batch of tasks
// from JetStream, fetches their market data concurrently (network I/O only),
// writes every bar of the batch through the worker's single PostgreSQL
// session in one transaction, commits, and only then acknowledges.
//
// Handlers never ack. Each task's outcome is an error value, and one switch
// (outcome.go) turns it into an action: nil → confirmed Ack after the commit;
// a permanent error (invalid envelope, unknown symbol at the source, data the
// database refuses) → TermWithReason; anything else → NakWithDelay with
// exponential backoff and jitter computed from the delivery count. A failure
// before commit acknowledges nothing.
//
// Only the goroutine running Run touches the store; fetches fan out under a
// bounded errgroup and join before the write.
//
// On shutdown (ctx cancelled) Run stops fetching, finishes the current batch
// (fetch, commit, ack) under a context that survives the cancellation for up
// to the grace period, Naks messages it had received but not started, and
// returns nil.
package runner
