package ratelimit_test

import (
	"context"
	"sync"
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

// A cut slows the fleet at once: callers whose grants were booked at the
// old rate book again at the new one when their time comes, instead of
// going at the old spacing for as long as the bookings reach ahead.
func TestACutReschedulesWhatWasBookedBefore(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	l := open(t, js, ratelimit.Config{Key: "source.rebook", Rate: 10, Burst: 1, MaxWait: 5 * time.Second}, zerolog.Nop())
	var mu sync.Mutex
	var grants []time.Time
	var wg sync.WaitGroup
	for range 25 { // books 2.5 s ahead at 10/s
		wg.Go(func() {
			if err := l.Wait(ctx); err == nil {
				mu.Lock()
				grants = append(grants, time.Now())
				mu.Unlock()
			}
		})
	}
	testenv.Poll(t, 5*time.Second, 50*time.Millisecond, "the bookings", func() bool { return l.Stats().Writes >= 20 })
	cut := time.Now()
	if ok, err := l.Penalize(ctx, "HTTP 429"); err != nil || !ok {
		t.Fatalf("Penalize = %v, %v", ok, err)
	}
	wg.Wait()
	n := 0
	for _, g := range grants {
		if g.After(cut.Add(100*time.Millisecond)) && g.Before(cut.Add(1100*time.Millisecond)) {
			n++
		}
	}
	if n > 6 {
		t.Fatalf("%d grants in the second after the cut to 5/s; want at most 6 (the bookings at 10/s must not stand)", n)
	}
}
