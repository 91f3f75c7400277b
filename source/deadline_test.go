package source_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"marketfleet/source"
)

// waiter is a rate limit that grants its token after a while.
type waiter time.Duration

func (w waiter) Wait(ctx context.Context) error {
	select {
	case <-time.After(time.Duration(w)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The deadline counts the source's time only: a wait for the rate limit
// longer than the whole deadline does not end it; the source's time after
// it does, with ErrDeadline as the cause.
func TestDeadlineStopsWhileWaitingForTheRateLimit(t *testing.T) {
	ctx, cancel := source.WithDeadline(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := source.WaitFor(ctx, waiter(600*time.Millisecond)); err != nil {
		t.Fatalf("a 600ms wait for the rate limit under a 300ms deadline: %v, want the token", err)
	}
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never ended the source's time")
	}
	if took := time.Since(start); took < 200*time.Millisecond || !errors.Is(context.Cause(ctx), source.ErrDeadline) {
		t.Fatalf("ended %s after the wait, cause %v; want the ~300ms of source time left, cause ErrDeadline", took, context.Cause(ctx))
	}
	// Without WithDeadline, WaitFor is the waiter's own Wait.
	if err := source.WaitFor(context.Background(), waiter(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
}
