package runner

import (
	"errors"
	"math/rand/v2"
	"time"

	"marketfleet/dlq"
	"marketfleet/features"
	"marketfleet/internal/backoff"
	"marketfleet/source"
	"marketfleet/store"
	"marketfleet/tasks"
)

// action is what the runner does with a task's message.
type action int

const (
	actAck   action = iota // applied and committed: confirmed ack
	actRetry               // transient failure: NakWithDelay
	actTerm                // permanent failure: dead letter, then TermWithReason
)

// classTransient is the class of failures that may succeed later; the
// permanent classes are the dead-letter classes of package dlq.
const classTransient = "transient"

// classBusy is the class of tasks whose series was busy: retried soon.
const classBusy = "busy"

// decide is the one place where an error becomes an action. A transient
// failure on the last delivery JetStream allows (maxDeliver) is final too:
// the task is dead-lettered with that last error instead of vanishing into
// a MAX_DELIVERIES advisory.
func decide(err error, delivered uint64, maxDeliver int) (action, string) {
	act, class := classify(err)
	if act == actRetry && maxDeliver > 0 && delivered >= uint64(maxDeliver) {
		return actTerm, dlq.ClassExhausted
	}
	return act, class
}

func classify(err error) (action, string) {
	switch {
	case err == nil:
		return actAck, ""
	case errors.Is(err, ErrBusy):
		return actRetry, classBusy
	case errors.Is(err, tasks.ErrInvalid):
		return actTerm, dlq.ClassInvalid
	case errors.Is(err, source.ErrNotFound):
		return actTerm, dlq.ClassNotFound
	case errors.Is(err, source.ErrRejected):
		return actTerm, dlq.ClassRejected
	case store.Classify(err) == store.ClassPermanent,
		errors.Is(err, features.ErrBadBar), errors.Is(err, features.ErrUnsorted), errors.Is(err, features.ErrMixedSeries):
		return actTerm, dlq.ClassData
	}
	return actRetry, classTransient
}

// busyDelay is the least delay before a busy task is retried; the jitter
// adds up to as much again.
const busyDelay = time.Second

// retryDelay is the NakWithDelay delay for a task that failed transiently on
// its delivered-th delivery: the backoff policy's jittered delay, or the
// source's Retry-After when that is longer.
func retryDelay(p backoff.Policy, delivered uint64, err error) time.Duration {
	d := p.Delay(int(min(delivered, 64)))
	if errors.Is(err, ErrBusy) {
		// The other task usually holds the series for about a batch: try
		// again soon, but back off like any retry, so that a series held
		// for long (a stalled holder) does not use up the deliveries.
		return max(busyDelay+rand.N(busyDelay), d)
	}
	var ra *source.RetryAfterError
	if errors.As(err, &ra) && ra.After > d {
		d = ra.After
	}
	return d
}
