package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"marketfleet/outcome"
)

// Waiter blocks until one more request may go; *ratelimit.Limiter
// implements it with a fleet-wide budget.
type Waiter interface {
	Wait(ctx context.Context) error
}

// Feedback is told how a source answers, so that the fleet adapts:
// *ratelimit.Limiter implements it, with a fleet-wide rate that halves on
// pushback and a circuit breaker that pauses the fleet's requests after a
// sustained run of failures.
type Feedback interface {
	// Penalize: the source pushed back (HTTP 429, 503): ask it less often.
	Penalize(ctx context.Context, reason string) (bool, error)
	// Failed: the source failed otherwise (other 5xx, a network error).
	Failed(ctx context.Context, reason string) error
	// Served: the source answered (any status it does not retry).
	Served(ctx context.Context) error
}

// Throttled returns s with every Fetch call waiting for w first. A Wait error
// (the limiter unreachable, ctx done) fails the call without a request: the
// task is retried later, and nothing is ever sent unthrottled.
func Throttled(s Source, w Waiter) Source { return throttled{s: s, w: w} }

type throttled struct {
	s Source
	w Waiter
}

func (t throttled) Name() string { return t.s.Name() }

func (t throttled) Fetch(ctx context.Context, req Request) (Response, error) {
	if err := WaitFor(ctx, t.w); err != nil {
		return Response{}, fmt.Errorf("rate limit: %w", err)
	}
	return t.s.Fetch(ctx, req)
}

// Statuses of a fetch, for a metric label (see Status).
const (
	StatusOK         = "ok"
	StatusNotFound   = "not_found"
	StatusRejected   = "rejected"
	StatusRetryAfter = "retry_after"
	StatusCanceled   = "canceled"
	StatusError      = "error"
)

// Status names the outcome of a Fetch call with few values: ok, not_found,
// rejected, retry_after, canceled or error.
func Status(err error) string {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrNotFound):
		return StatusNotFound
	case errors.Is(err, ErrRejected):
		return StatusRejected
	case outcome.After(err) > 0:
		return StatusRetryAfter
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return StatusCanceled
	}
	return StatusError
}

// Observed returns s with fn told the status and duration of every Fetch
// call, for metrics.
func Observed(s Source, fn func(status string, took time.Duration)) Source {
	return observed{s: s, fn: fn}
}

type observed struct {
	s  Source
	fn func(status string, took time.Duration)
}

func (o observed) Name() string { return o.s.Name() }

func (o observed) Fetch(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	resp, err := o.s.Fetch(ctx, req)
	o.fn(Status(err), time.Since(start))
	return resp, err
}
