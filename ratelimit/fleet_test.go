package ratelimit_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/ratelimit"
)

// TestFleetWideRate runs 4 limiters on 4 connections, 8 callers each,
// and checks the fleet's total against rate and burst.
func TestFleetWideRate(t *testing.T) {
	const (
		rate      = 20.0
		burst     = 5
		workers   = 4
		perWorker = 8
		run       = 3 * time.Second
	)
	n := testenv.NATS(t)
	lims := make([]*ratelimit.Limiter, workers)
	for i := range lims {
		_, js := n.Connect(t)
		// Half of them reserve for up to 4 waiting callers per write.
		cfg := ratelimit.Config{Key: "source.fleet", Rate: rate, Burst: burst, Batch: 1 + 3*(i%2), Name: "w" + strconv.Itoa(i)}
		lims[i] = open(t, js, cfg, zerolog.Nop())
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(run))
	defer cancel()
	var (
		mu     sync.Mutex
		grants []time.Time
		wg     sync.WaitGroup
	)
	for _, l := range lims {
		for range perWorker {
			wg.Go(func() {
				for {
					err := l.Wait(ctx)
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("Wait: %v", err)
						}
						return
					}
					now := time.Now()
					mu.Lock()
					grants = append(grants, now)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	checkFleet(t, grants, start, run, rate, burst)
	var sum ratelimit.Stats
	for i, l := range lims {
		st := l.Stats()
		if st.Granted == 0 {
			t.Errorf("limiter %d got no grant", i)
		}
		t.Logf("limiter %d (batch %d): %+v", i, l.Config().Batch, st)
		sum = add(sum, st)
	}
	t.Logf("per grant: %.2f KV reads, %.2f writes, %.2f conflicts; %d reservations wasted",
		float64(sum.Reads)/float64(sum.Granted), float64(sum.Writes)/float64(sum.Granted), float64(sum.Conflicts)/float64(sum.Granted), sum.Wasted)
}

// checkFleet checks the total against burst + rate·run and every sliding
// one-second window against rate + burst.
func checkFleet(t *testing.T, grants []time.Time, start time.Time, run time.Duration, rate float64, burst int) {
	t.Helper()
	slices.SortFunc(grants, time.Time.Compare)
	total := len(grants)
	lo, hi := float64(burst)+rate*run.Seconds()*0.9, float64(burst)+rate*run.Seconds()*1.05
	if float64(total) < lo || float64(total) > hi {
		t.Errorf("%d grants in %s, want within [%.0f, %.0f]", total, run, lo, hi)
	}
	maxWindow := 0
	for i, j := 0, 0; i < total; i++ {
		for j < total && grants[j].Before(grants[i].Add(time.Second)) {
			j++
		}
		maxWindow = max(maxWindow, j-i)
	}
	// The schedule never puts more than rate+burst grants in a second; a
	// grant may be handed out up to one interval late (see lateness), which
	// can move one more into a window.
	if limit := int(rate) + burst + 1; maxWindow > limit {
		t.Errorf("%d grants in one sliding second, want <= rate+burst+1 = %d", maxWindow, limit)
	}
	if total > burst+1 {
		steady := float64(total-burst) / grants[total-1].Sub(grants[0]).Seconds()
		t.Logf("fleet: %d grants in %s (first at +%s); steady rate %.2f/s after the burst (limit %.0f/s); busiest sliding 1s window %d (rate+burst %d)",
			total, run, grants[0].Sub(start).Round(time.Millisecond), steady, rate, maxWindow, int(rate)+burst)
	}
}

func add(a, b ratelimit.Stats) ratelimit.Stats {
	return ratelimit.Stats{Granted: a.Granted + b.Granted, Reads: a.Reads + b.Reads, Writes: a.Writes + b.Writes,
		Conflicts: a.Conflicts + b.Conflicts, Errors: a.Errors + b.Errors, Wasted: a.Wasted + b.Wasted}
}
