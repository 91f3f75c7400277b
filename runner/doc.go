// Package runner is a worker's batch pipeline: it takes small batches of
// tasks from JetStream (high-priority ones first), runs each task through
// the handler of its kind, writes the whole batch through the worker's
// single PostgreSQL session in one transaction, and only then acknowledges.
//
// The pipeline is generic; what a kind of task does lives in its Handler
// (package kinds has one file per kind), registered under its kind string
// in a Registry. For one batch (batch.go):
//
//  1. decode every message (tasks.Decode) and find its kind's handler;
//  2. lock each task's series (symbol and interval) fleet-wide, so two
//     tasks of one series never run at once anywhere in the fleet;
//  3. Prepare: each kind reads what its fetches need, one round trip;
//  4. Fetch: every task's network work, concurrently (bounded);
//  5. Write: every kind's database work, in one transaction, replayed on a
//     new session if the session is lost, and split task by task when the
//     data of one task is refused, so that only that task fails; then each
//     task of a Separate kind in a transaction of its own (write.go);
//  6. release the series locks;
//  7. FollowUps: enqueue the tasks a committed task asks for, confirmed;
//  8. settle every message through one switch on its error's class
//     (settle.go, package outcome): nil → confirmed Ack; a dead-letter
//     class → dead letter, then TermWithReason; busy → a short
//     NakWithDelay; transient → NakWithDelay with exponential backoff and
//     jitter from the delivery count (or the source's Retry-After), and
//     dead letter "exhausted" on the last delivery allowed.
//
// Handlers never ack. A panic anywhere in a task's handling (decoding, any
// phase of any handler) is caught (barrier.go) and becomes that task's
// permanent error, class panic, with the stack in the dead letter and the
// log; the rest of the batch is committed and acknowledged, and the worker
// goes on.
//
// Batches are pipelined, up to Config.Pipeline begun plus one being
// settled: while batch n+1's fetches run, batch n is written and batch
// n-1's messages are being acknowledged. Only the goroutine running Run
// touches the store, one statement at a time: the worker still holds
// exactly one session. Between batches (never during one) Run calls
// Config.Housekeeping, the only other user of the session. Series locks
// taken in a session that was lost meanwhile are taken again in the new one
// before the batch writes.
//
// On shutdown (ctx cancelled) Run stops fetching, finishes the batches in
// hand (fetch, commit, ack) under a context that survives the cancellation
// for up to the grace period, Naks messages it had received but not
// started, and returns nil.
package runner
