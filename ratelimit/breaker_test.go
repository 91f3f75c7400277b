package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/outcome"
	"marketfleet/ratelimit"
)

// A request that could only go beyond MaxWait is not booked: Wait returns
// ErrDeferred at once, asking for about the delay, so that its task waits
// in the queue; the requests within MaxWait are granted.
func TestWaitDefersWhatCouldNotGoWithinMaxWait(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	l := open(t, js, ratelimit.Config{Key: "source.defer", Rate: 4, Burst: 1, MaxWait: time.Second}, zerolog.Nop())
	const callers = 10
	var mu sync.Mutex
	var granted int
	var asked []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := l.Wait(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				granted++
			case errors.Is(err, ratelimit.ErrDeferred) && outcome.Of(err) == outcome.Deferred:
				asked = append(asked, outcome.After(err))
			default:
				t.Errorf("Wait = %v; want nil or ErrDeferred", err)
			}
		})
	}
	wg.Wait()
	// At 4/s with no burst, grants at 0, 250, 500, 750 and 1000 ms lie
	// within the second; the others are deferred.
	if granted < 4 || granted > 6 || len(asked) != callers-granted {
		t.Fatalf("%d granted, %d deferred; want about 5 granted within MaxWait 1s at 4/s", granted, len(asked))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Wait took %s; the deferred callers must return at once", took)
	}
	for _, d := range asked {
		if d < time.Second || d > 3*time.Second {
			t.Fatalf("a deferred caller asked for %s; want about the time until its grant (1-1.5s, with jitter)", d)
		}
	}
	if st := l.Stats(); st.Deferred != uint64(len(asked)) {
		t.Fatalf("Stats.Deferred = %d, want %d", st.Deferred, len(asked))
	}
}

// Admit holds pulls while the fleet's requests are booked more than
// MaxWait/2 ahead, and otherwise says how many could still go within
// MaxWait.
func TestAdmitSizesPullsByTheFleetsBookings(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	cfg := ratelimit.Config{Key: "source.admit", Rate: 10, Burst: 1, MaxWait: 2 * time.Second}
	a := open(t, js, cfg, zerolog.Nop())
	b := open(t, js, cfg, zerolog.Nop())
	hold, room, err := b.Admit(ctx)
	if err != nil || hold != 0 || room < 20 || room > 21 {
		t.Fatalf("an idle fleet: Admit = %s, %d, %v; want no hold and room for about 20 (2s at 10/s)", hold, room, err)
	}
	var wg sync.WaitGroup
	for range 18 { // books 1.7 s ahead
		wg.Go(func() { _ = a.Wait(ctx) })
	}
	testenv.Poll(t, 5*time.Second, 50*time.Millisecond, "the bookings to show", func() bool {
		time.Sleep(300 * time.Millisecond) // let Admit's cached read expire
		hold, _, err = b.Admit(ctx)
		return err == nil && hold > 0
	})
	if hold > time.Second {
		t.Fatalf("Admit holds for %s; want at most the booking beyond MaxWait/2 (under 0.7s)", hold)
	}
	wg.Wait()
}

// A run of failures that lasts BreakAfter opens the breaker for the whole
// fleet: every Wait is deferred to the end of the cool-down and Admit
// holds pulls. After it, requests go one slow interval apart; a failing
// probe opens it again at once, for twice as long; a success ends the run
// and the rate recovers from its floor.
func TestBreakerPausesTheFleetAndProbesAfterTheCooldown(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	cfg := ratelimit.Config{Key: "source.breaker", Rate: 20, BreakAfter: time.Second, Cooldown: time.Second}
	a := open(t, js, cfg, zerolog.Nop())
	b := open(t, js, cfg, zerolog.Nop())
	if err := a.Failed(ctx, "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Current(ctx); cur.Failing.IsZero() || cur.Paused() || cur.Reason != "HTTP 500" {
		t.Fatalf("after one failure: %+v; want failing, not paused", cur)
	}
	wait(t, b, time.Second) // still closed: requests go
	testenv.Poll(t, 5*time.Second, 50*time.Millisecond, "the breaker to open", func() bool {
		if _, err := a.Penalize(ctx, "HTTP 429"); err != nil {
			t.Fatal(err)
		}
		cur, _ := b.Current(ctx)
		return cur.Paused()
	})
	cur, _ := b.Current(ctx)
	if cur.Opens != 1 || cur.Rate != 1 || time.Until(cur.Open) > time.Second {
		t.Fatalf("open: %+v; want 1 opening, the floor rate (1/s) and about 1s to go", cur)
	}
	err := b.Wait(ctx)
	if !errors.Is(err, ratelimit.ErrDeferred) || outcome.After(err) <= 0 || outcome.After(err) > 2*time.Second {
		t.Fatalf("Wait while open = %v (after %s); want ErrDeferred asking for the rest of the cool-down", err, outcome.After(err))
	}
	if hold, _, err := b.Admit(ctx); err != nil || hold <= 0 {
		t.Fatalf("Admit while open = %s, %v; want a hold", hold, err)
	}
	// The cool-down over, a probe goes; it fails: open again, for 2 s.
	testenv.Poll(t, 3*time.Second, 50*time.Millisecond, "the cool-down to end", func() bool {
		c, _ := b.Current(ctx)
		return !c.Paused()
	})
	wait(t, b, 3*time.Second)
	if err := b.Failed(ctx, "HTTP 502"); err != nil {
		t.Fatal(err)
	}
	cur, _ = a.Current(ctx)
	if !cur.Paused() || cur.Opens != 2 || time.Until(cur.Open) < 1500*time.Millisecond {
		t.Fatalf("after a failed probe: %+v; want open again at once, for 2s", cur)
	}
	// The source recovers: the next probe succeeds and ends the run.
	testenv.Poll(t, 4*time.Second, 50*time.Millisecond, "the second cool-down to end", func() bool {
		c, _ := b.Current(ctx)
		return !c.Paused()
	})
	start := time.Now()
	wait(t, a, 3*time.Second)
	wait(t, a, 3*time.Second)
	if gap := time.Since(start); gap < 800*time.Millisecond {
		t.Fatalf("two requests after the cool-down %s apart; want the floor rate (1/s), not a burst", gap)
	}
	if err := a.Served(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ = b.Current(ctx)
	if cur.Paused() || !cur.Failing.IsZero() || cur.Opens != 0 || cur.Rate >= cur.Configured {
		t.Fatalf("after a success: %+v; want closed, no run, the rate recovering below 20/s", cur)
	}
	if err := b.Failed(ctx, "HTTP 500"); err != nil { // a new run starts; nothing opens
		t.Fatal(err)
	}
	if cur, _ = a.Current(ctx); cur.Paused() {
		t.Fatalf("the first failure of a new run opened the breaker: %+v", cur)
	}
	// A lone failure after a quiet spell (here 3 s: two requests at the
	// floor rate of 1/s, plus the second the last failure is kept to) is
	// not a sustained run: it starts a new one instead of opening the breaker.
	first := cur.Failing
	testenv.Poll(t, 5*time.Second, 50*time.Millisecond, "a quiet spell", func() bool { return time.Since(first) > 3100*time.Millisecond })
	if err := a.Failed(ctx, "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if cur, _ = b.Current(ctx); cur.Paused() || !cur.Failing.After(first) {
		t.Fatalf("a failure after a quiet spell: %+v; want a new run (failing since now), not an open breaker", cur)
	}
}

// An answer to a request booked before the breaker opened does not close
// it: the cool-down and its doubling stand.
func TestAnAnswerWhileOpenLeavesTheBreakerOpen(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	l := open(t, js, ratelimit.Config{Key: "source.late", Rate: 20, BreakAfter: time.Second, Cooldown: time.Minute}, zerolog.Nop())
	testenv.Poll(t, 5*time.Second, 50*time.Millisecond, "the breaker to open", func() bool {
		must(t, l.Failed(ctx, "HTTP 500"))
		cur, _ := l.Current(ctx)
		return cur.Paused()
	})
	must(t, l.Served(ctx))
	if cur, _ := l.Current(ctx); !cur.Paused() || cur.Opens != 1 {
		t.Fatalf("after a late answer: %+v; want still open", cur)
	}
}

// At the floor rate a pushback cuts nothing: the bookings stand (no
// re-booking of the fleet's grants every second of a storm), and the rate
// in force stays at its floor.
func TestPushbackAtTheFloorKeepsTheBookings(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	l := open(t, js, ratelimit.Config{Key: "source.floor", Rate: 100, Burst: 1, BreakAfter: time.Hour}, zerolog.Nop())
	testenv.Poll(t, 10*time.Second, 50*time.Millisecond, "the floor rate", func() bool {
		_, _ = l.Penalize(ctx, "HTTP 429")
		cur, _ := l.Current(ctx)
		return cur.Rate < 5.5
	})
	before, _ := l.Current(ctx)
	testenv.Poll(t, 3*time.Second, 50*time.Millisecond, "the debounce to pass", func() bool { return time.Since(before.Since) > 1100*time.Millisecond })
	if cut, err := l.Penalize(ctx, "HTTP 429"); err != nil || cut {
		t.Fatalf("Penalize at the floor = %v, %v; want no cut", cut, err)
	}
	if after, _ := l.Current(ctx); !after.Since.Equal(before.Since) {
		t.Fatalf("the cut moved from %s to %s at the floor", before.Since, after.Since)
	}
}

// A value nobody can decode (a foreign writer, a truncated write) neither
// stops Admit nor Wait: the bucket counts as full and the next booking
// overwrites it.
func TestUndecodableStateIsOverwritten(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	l := open(t, js, ratelimit.Config{Key: "source.garbled", Rate: 10}, zerolog.Nop())
	kv, err := js.KeyValue(ctx, ratelimit.DefaultBucket)
	must(t, err)
	_, err = kv.Put(ctx, "source.garbled", []byte("{not json"))
	must(t, err)
	fresh := open(t, js, ratelimit.Config{Key: "source.garbled", Rate: 10}, zerolog.Nop())
	if hold, room, err := fresh.Admit(ctx); err != nil || hold != 0 || room < 1 {
		t.Fatalf("Admit on a garbled key = %s, %d, %v; want admitted", hold, room, err)
	}
	wait(t, l, 2*time.Second)
	e, err := kv.Get(ctx, "source.garbled")
	must(t, err)
	if !strings.HasPrefix(string(e.Value()), "{\"tat\"") {
		t.Fatalf("the key still holds %q after a booking", e.Value())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
