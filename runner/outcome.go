package runner

import (
	"math/rand/v2"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/outcome"
)

// action is what the runner does with a task's message.
type action int

const (
	actAck   action = iota // applied and committed: confirmed ack
	actRetry               // transient failure: NakWithDelay
	actTerm                // permanent failure: dead letter, then TermWithReason
)

// decide is the one place where an error becomes an action. A transient
// failure on the last delivery JetStream allows (maxDeliver) is final too:
// the task is dead-lettered with that last error instead of vanishing into
// a MAX_DELIVERIES advisory.
func decide(err error, delivered uint64, maxDeliver int) (action, outcome.Class) {
	act, class := classify(err)
	if act == actRetry && maxDeliver > 0 && delivered >= uint64(maxDeliver) {
		return actTerm, outcome.Exhausted
	}
	return act, class
}

func classify(err error) (action, outcome.Class) {
	switch c := outcome.Of(err); {
	case err == nil:
		return actAck, ""
	case c.DeadLetter():
		return actTerm, c
	default: // busy, transient
		return actRetry, c
	}
}

// busyDelay is the least delay before a busy task is retried; the jitter
// adds up to as much again.
const busyDelay = time.Second

// retryDelay is the NakWithDelay delay for a task that failed transiently on
// its delivered-th delivery: the backoff policy's jittered delay, or the
// source's Retry-After when that is longer.
func retryDelay(p backoff.Policy, delivered uint64, err error) time.Duration {
	d := p.Delay(int(min(delivered, 64)))
	if outcome.Of(err) == outcome.Busy {
		// The other task usually holds the series for about a batch: try
		// again soon, but back off like any retry, so that a series held
		// for long (a stalled holder) does not use up the deliveries.
		return max(busyDelay+rand.N(busyDelay), d)
	}
	return max(d, outcome.After(err))
}
