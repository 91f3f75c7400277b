package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/ratelimit"
)

// The source pushing back halves the fleet's rate for every worker (one
// penalty per wave however many workers report it), and the grants are
// spaced at the lower rate at once; the rate in force says why.
func TestPenaltyHalvesTheFleetsRate(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	cfg := ratelimit.Config{Key: "source.test", Rate: 20, Burst: 1}
	a := open(t, js, cfg, zerolog.Nop())
	b := open(t, js, cfg, zerolog.Nop())
	spacing := func(l *ratelimit.Limiter) time.Duration {
		wait(t, l, 5*time.Second)
		start := time.Now()
		for range 4 {
			wait(t, l, 5*time.Second)
		}
		return time.Since(start) / 4
	}
	if d := spacing(a); d < 40*time.Millisecond || d > 70*time.Millisecond {
		t.Fatalf("grants %s apart at 20/s, want about 50ms", d)
	}
	cut, err := a.Penalize(ctx, "HTTP 429")
	if err != nil || !cut {
		t.Fatalf("Penalize = %v, %v; want the rate cut", cut, err)
	}
	if again, err := b.Penalize(ctx, "HTTP 429"); err != nil || again {
		t.Fatalf("a second worker's penalty within a second = %v, %v; want none (the same wave)", again, err)
	}
	cur, err := b.Current(ctx)
	if err != nil || cur.Configured != 20 || cur.Rate < 9.5 || cur.Rate > 10.5 || cur.Reason != "HTTP 429" {
		t.Fatalf("current rate %+v (%v), want about 10/s because of HTTP 429", cur, err)
	}
	if d := spacing(b); d < 85*time.Millisecond || d > 130*time.Millisecond {
		t.Fatalf("grants %s apart after the penalty, want about 100ms (10/s)", d)
	}
}
