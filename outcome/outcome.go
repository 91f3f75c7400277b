package outcome

import (
	"errors"
	"time"
)

// Class names a kind of task failure. The values are stable strings.
type Class string

// The classes. Transient and Busy tasks are retried; every other class is
// a dead-letter class: the task is kept in the dead-letter stream and never
// retried on its own.
const (
	// Transient failures may pass when tried again later: network errors,
	// timeouts, a lost session, HTTP 429/5xx. The class of every error that
	// carries no mark.
	Transient Class = "transient"
	// Busy tasks found their series held by another task: retried soon.
	Busy Class = "busy"
	// Deferred tasks were held back by the fleet before they reached the
	// source (its breaker is open, or its rate is booked far ahead): retried
	// after the delay they ask for, and never dead-lettered for it (on the
	// last delivery allowed they are put back at the end of the queue).
	Deferred Class = "deferred"
	// Invalid envelopes (or requests) can never be run.
	Invalid Class = "invalid"
	// NotFound: the source says the symbol does not exist.
	NotFound Class = "not_found"
	// Rejected: the source refused the request as malformed or unanswerable.
	Rejected Class = "rejected"
	// Data: the data is refused, by the database (SQLSTATE classes 22 and
	// 23) or by a computation that cannot use it.
	Data Class = "data"
	// BadData: the source's answer is garbage (an impossible bar or
	// corporate action, misaligned arrays, a body that never parses): it
	// is refused whole, nothing of it stored.
	BadData Class = "bad_data"
	// Panic: the task's handling panicked; the stack is kept with the task.
	Panic Class = "panic"
	// Exhausted: a transient failure on the last delivery allowed.
	Exhausted Class = "exhausted"
	// MaxDeliveries: the server gave up on the task after every delivery
	// timed out; the last error is unknown.
	MaxDeliveries Class = "max_deliveries"
)

// Classes lists every class, the retried ones first.
var Classes = []Class{Transient, Busy, Deferred, Invalid, NotFound, Rejected, Data, BadData, Panic, Exhausted, MaxDeliveries}

// DeadLetter reports whether a task that failed with class c is
// dead-lettered: every class but Transient, Busy and Deferred.
func (c Class) DeadLetter() bool { return c != Transient && c != Busy && c != Deferred && c != "" }

// Mark returns err marked with class c: Of reports c for it and for every
// error that wraps it. Its message is err's. Mark(c, nil) is nil.
func Mark(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &marked{class: c, err: err}
}

// RetryAfter returns err marked Transient with a least delay: the task is
// tried again no sooner than d (a source's Retry-After). Its message adds
// "(retry after d)". RetryAfter(d, nil) is nil.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &waiting{after: max(d, 0), err: err}
}

// Of returns the class of err: "" for nil, the class of the outermost mark
// in err's chain, or Transient when err carries none. An error type of
// another package can carry a class too, by implementing
// interface{ Class() Class }.
func Of(err error) Class {
	if err == nil {
		return ""
	}
	var c classed
	if errors.As(err, &c) {
		return c.Class()
	}
	return Transient
}

// After returns the least delay err asks for before its task is tried
// again (RetryAfter), or 0.
func After(err error) time.Duration {
	var d delayed
	if errors.As(err, &d) {
		return d.RetryAfter()
	}
	return 0
}

// classed is an error that knows its class.
type classed interface {
	error
	Class() Class
}

// delayed is an error that asks for a least delay before a retry.
type delayed interface {
	error
	RetryAfter() time.Duration
}

// marked is the error Mark returns.
type marked struct {
	class Class
	err   error
}

func (m *marked) Error() string { return m.err.Error() }
func (m *marked) Unwrap() error { return m.err }
func (m *marked) Class() Class  { return m.class }

// waiting is the error RetryAfter returns.
type waiting struct {
	after time.Duration
	err   error
}

func (w *waiting) Error() string             { return w.err.Error() + " (retry after " + w.after.String() + ")" }
func (w *waiting) Unwrap() error             { return w.err }
func (w *waiting) Class() Class              { return Transient }
func (w *waiting) RetryAfter() time.Duration { return w.after }
