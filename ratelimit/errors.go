package ratelimit

import "errors"

// ErrInvalidConfig is wrapped by the errors Open returns for a bad Config.
var ErrInvalidConfig = errors.New("invalid rate limit configuration")

// ErrUnavailable is wrapped by the error Wait returns when the KV bucket
// could not be used for Config.RetryFor (NATS down, JetStream unavailable,
// or a contention so high that no reservation succeeded). The request must
// not go; the condition is transient and the caller should retry later.
var ErrUnavailable = errors.New("fleet rate limiter unavailable")

// ErrDeferred is wrapped by the error Wait returns, at once and without
// booking anything, when the request may not go within Config.MaxWait: the
// breaker is open (the source is paused), or the fleet's requests are
// booked further ahead than that. The error is marked
// outcome.RetryAfter with the delay after which the request could go: its
// task waits in the queue, not in the worker.
var ErrDeferred = errors.New("source request deferred")

// Internal outcomes of one reservation attempt.
var (
	// errConflict: another limiter wrote the key between our read and our
	// write. Retried at once.
	errConflict = errors.New("lost the compare-and-set race")
	// errLate: every reserved grant was already overdue when the write
	// was acknowledged. Retried at once.
	errLate = errors.New("reservation acknowledged too late")
	// errBeyondDeadline: the grant would come after the caller's context
	// deadline; nothing was reserved.
	errBeyondDeadline = errors.New("wait would exceed the context deadline")
)
