package runner

import (
	"errors"
	"time"

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
	actTerm                // permanent failure: TermWithReason
)

// Error classes as they appear in logs (field "class").
const (
	classInvalid   = "invalid"   // the envelope was refused
	classNotFound  = "not_found" // the source says the symbol does not exist
	classRejected  = "rejected"  // the source refused the request
	classData      = "data"      // the database refused the data
	classTransient = "transient" // anything that may succeed later
)

// decide is the one place where an error becomes an action.
func decide(err error) (action, string) {
	switch {
	case err == nil:
		return actAck, ""
	case errors.Is(err, tasks.ErrInvalid):
		return actTerm, classInvalid
	case errors.Is(err, source.ErrNotFound):
		return actTerm, classNotFound
	case errors.Is(err, source.ErrRejected):
		return actTerm, classRejected
	case store.Classify(err) == store.ClassPermanent:
		return actTerm, classData
	}
	return actRetry, classTransient
}

// retryDelay is the NakWithDelay delay for a task that failed transiently on
// its delivered-th delivery: the backoff policy's jittered delay, or the
// source's Retry-After when that is longer.
func retryDelay(p backoff.Policy, delivered uint64, err error) time.Duration {
	d := p.Delay(int(min(delivered, 64)))
	var ra *source.RetryAfterError
	if errors.As(err, &ra) && ra.After > d {
		d = ra.After
	}
	return d
}
