// Package dlq keeps the tasks the fleet gave up on: a dead-letter stream,
// the Writer workers use before they terminate a task, a Reaper that turns
// the server's MAX_DELIVERIES advisories into dead letters, and the Admin
// operations behind `fleetctl dlq` (list, show, replay, purge).
//
// A dead letter is the original message, byte for byte, with its original
// headers, plus Marketfleet-* headers that say why it died: the reason, the
// error class, the delivery count, the worker, the time, and where it came
// from (stream, sequence, subject). It is published on
// marketfleet.dlq.<class> in a limits-retention stream on file storage, with
// the message id "dlq:<stream>:<seq>", so dead-lettering the same task twice
// (a worker crashing between the dead letter and the Term) stores it once.
//
// Order matters: the dead letter is confirmed before the task is terminated;
// if it cannot be written the task is retried instead, so nothing is lost.
package dlq
