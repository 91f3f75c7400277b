package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/ratelimit"
)

type waitResult struct {
	at   time.Time
	took time.Duration
	err  error
}

// TestNATSRestart stops the server under load: Wait must fail closed
// (no grants without the bucket), return ErrUnavailable after RetryFor
// without spinning, and grant again once the server is back.
func TestNATSRestart(t *testing.T) {
	const (
		callers  = 4
		retryFor = time.Second
		outage   = 2500 * time.Millisecond
	)
	n := testenv.NATS(t)
	_, js := n.Connect(t)
	l := open(t, js, ratelimit.Config{Key: "source.restart", Rate: 50, Burst: 5, RetryFor: retryFor}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu   sync.Mutex
		outs []waitResult
		wg   sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				err := l.Wait(ctx)
				mu.Lock()
				outs = append(outs, waitResult{at: time.Now(), took: time.Since(start), err: err})
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	down := time.Now()
	n.Shutdown()
	time.Sleep(outage)
	up := time.Now()
	n.Restart()
	granted := func(after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, o := range outs {
			if o.err == nil && o.at.After(after) {
				c++
			}
		}
		return c
	}
	for deadline := time.Now().Add(15 * time.Second); granted(up) < 20 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	checkRestart(t, outs, down, up, retryFor, callers)
	if st := l.Stats(); st.Errors == 0 {
		t.Errorf("no KV error counted: the fault did not fire (%+v)", st)
	}
}

func checkRestart(t *testing.T, outs []waitResult, down, up time.Time, retryFor time.Duration, callers int) {
	t.Helper()
	var before, during, after, failures int
	back := time.Time{} // first grant after the restart
	for _, o := range outs {
		if o.err == nil && o.at.After(up) && (back.IsZero() || o.at.Before(back)) {
			back = o.at
		}
	}
	for _, o := range outs {
		switch {
		case o.err != nil && errors.Is(o.err, context.Canceled):
		case o.err != nil:
			failures++
			if !errors.Is(o.err, ratelimit.ErrUnavailable) {
				t.Errorf("Wait = %v, want ErrUnavailable", o.err)
			}
			if o.took < retryFor || o.took > retryFor+time.Second {
				t.Errorf("a failing Wait took %s, want RetryFor (%s) or a little more", o.took, retryFor)
			}
		case o.at.Before(down):
			before++
		case o.at.After(down.Add(200*time.Millisecond)) && o.at.Before(up):
			during++
		case o.at.After(up):
			after++
		}
	}
	t.Logf("grants: %d before the outage, %d during, %d after; %d ErrUnavailable; server down %s, first grant %s after the restart",
		before, during, after, failures, up.Sub(down).Round(time.Millisecond), back.Sub(up).Round(time.Millisecond))
	if before == 0 || after < 20 {
		t.Errorf("grants before %d, after %d: want some before and >= 20 after the restart", before, after)
	}
	if during != 0 {
		t.Errorf("%d grants while NATS was down: the limiter must fail closed", during)
	}
	if failures == 0 {
		t.Error("no Wait failed while NATS was down")
	}
	// A failing Wait retries for RetryFor: each caller fails at most once
	// per RetryFor while the limiter cannot grant.
	if most := callers * int(back.Sub(down)/retryFor+1); failures > most {
		t.Errorf("%d failed Waits in a %s outage: busy loop (want <= %d)", failures, back.Sub(down), most)
	}
}
