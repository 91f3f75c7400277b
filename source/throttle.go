package source

import (
	"context"
	"fmt"

	"marketfleet/market"
)

// Waiter blocks until one more request may go; *ratelimit.Limiter
// implements it with a fleet-wide budget.
type Waiter interface {
	Wait(ctx context.Context) error
}

// Throttled returns s with every Bars call waiting for w first. A Wait error
// (the limiter unreachable, ctx done) fails the call without a request: the
// task is retried later, and nothing is ever sent unthrottled.
func Throttled(s Source, w Waiter) Source { return throttled{s: s, w: w} }

type throttled struct {
	s Source
	w Waiter
}

func (t throttled) Name() string { return t.s.Name() }

func (t throttled) Bars(ctx context.Context, req Request) ([]market.Bar, error) {
	if err := t.w.Wait(ctx); err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return t.s.Bars(ctx, req)
}
