// Package queue is the fleet's JetStream plumbing: the task stream (created
// idempotently by whoever starts first, changed only by ApplyStream) and the
// workers' durable pull consumers (kept at the workers' settings), a Publisher that enqueues tasks with their de-duplication id
// and confirmed acks, and a Fetcher that hands a worker small batches.
//
// The stream uses work-queue retention on file storage: a message lives until
// a worker acknowledges (or terminates) it, so the stream's message count is
// the backlog, and storage is bounded by the backlog rather than by history.
// When the stream is full, publishing fails (DiscardNew) instead of silently
// dropping queued work. docs/ARCHITECTURE.md explains the choice.
//
// The package never reads the environment; callers pass plain values.
package queue
