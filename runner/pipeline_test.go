package runner_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/tasks"
)

// inFlight counts concurrent source calls, overall and per symbol.
type inFlight struct {
	mu       sync.Mutex
	now, max int
	bySymbol map[string]int
	maxOne   int // most concurrent calls for one symbol
}

func (f *inFlight) enter(symbol string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now++
	f.max = max(f.max, f.now)
	f.bySymbol[symbol]++
	f.maxOne = max(f.maxOne, f.bySymbol[symbol])
}

func (f *inFlight) leave(symbol string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now--
	f.bySymbol[symbol]--
}

func (f *inFlight) peaks() (all, one int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max, f.maxOne
}

// TestNextBatchFetchesWhileTheCurrentOneFinishes: with batches of 2 and 4
// fetch slots, the second batch's fetches run alongside the first's (4 in
// flight, more than a batch), and never more than the slots; with a
// pipeline of 1, one batch at a time.
func TestNextBatchFetchesWhileTheCurrentOneFinishes(t *testing.T) {
	for _, tc := range []struct{ pipeline, want int }{{0, 4}, {1, 2}} {
		t.Run(fmt.Sprintf("pipeline=%d", tc.pipeline), func(t *testing.T) {
			b := setup(t)
			b.size = 2
			f := &inFlight{bySymbol: map[string]int{}}
			b.src.hook = func(s string) {
				f.enter(s)
				time.Sleep(150 * time.Millisecond)
				f.leave(s)
			}
			symbols := []string{"P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"}
			b.publish(t, symbols...)
			stop := b.start(t, runner.Config{Tuning: runner.Tuning{FetchConcurrency: 4, Pipeline: tc.pipeline}})
			b.waitEmpty(t, 20*time.Second)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if all, _ := f.peaks(); all != tc.want {
				t.Fatalf("peak fetches in flight %d, want %d (batches of 2, 4 slots)", all, tc.want)
			}
			for _, s := range symbols {
				if n := b.barsOf(t, s); n != 30 {
					t.Errorf("%s has %d bars, want 30", s, n)
				}
			}
		})
	}
}

// TestOneSeriesNeverRunsInTwoBatchesAtOnce: two tasks of one series in
// consecutive batches of one worker do not run at the same time (the second
// is busy until the first is done), and both are applied.
func TestOneSeriesNeverRunsInTwoBatchesAtOnce(t *testing.T) {
	b := setup(t)
	b.size = 1
	f := &inFlight{bySymbol: map[string]int{}}
	b.src.hook = func(s string) {
		f.enter(s)
		time.Sleep(200 * time.Millisecond)
		f.leave(s)
	}
	now := time.Now()
	b.publishTasks(t,
		tasks.NewCollect("SAME", market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", now),
		tasks.NewCollect("SAME", market.Interval1d, day0.AddDate(0, 0, 30), day0.AddDate(0, 0, 60), "runner-test", now))
	stop := b.start(t, runner.Config{Tuning: runner.Tuning{FetchConcurrency: 4}})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, one := f.peaks(); one != 1 {
		t.Fatalf("SAME was fetched %d times at once, want 1", one)
	}
	if n := b.barsOf(t, "SAME"); n != 60 {
		t.Fatalf("SAME has %d bars, want 60 (both windows)", n)
	}
}

// TestLostSessionWhileTheNextBatchFetchesRetakesItsLocks: the session dies
// while the second batch fetches, after both batches took their series locks
// in it. The first batch replays on a new session; the second must take its
// locks again there too before it writes, not write without them.
func TestLostSessionWhileTheNextBatchFetchesRetakesItsLocks(t *testing.T) {
	b := setup(t)
	b.size = 2
	ctx := context.Background()
	killed := make(chan struct{})
	var once sync.Once
	b.src.hook = func(s string) {
		switch s {
		case "L1", "L2": // the first batch finishes fetching only after the kill
			<-killed
		case "L3":
			once.Do(func() {
				defer close(killed)
				var pid uint32
				if err := b.admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
					WHERE application_name = 'marketfleet-worker/runner-test'`).Scan(&pid); err != nil {
					t.Error(err)
					return
				}
				if _, err := b.admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
					t.Error(err)
					return
				}
				for gone := false; !gone; time.Sleep(10 * time.Millisecond) {
					if err := b.admin.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&gone); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	var mu sync.Mutex
	var held []int
	afterCommit := func(context.Context) {
		var n int
		if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'marketfleet-worker/runner-test'`).Scan(&n); err != nil {
			t.Error(err)
		}
		mu.Lock()
		held = append(held, n)
		mu.Unlock()
	}
	b.publish(t, "L1", "L2", "L3", "L4")
	stop := b.start(t, runner.Config{Tuning: runner.Tuning{FetchConcurrency: 4}, Faults: runner.Faults{AfterCommit: afterCommit}})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(held) != 2 || held[0] != 2 || held[1] != 2 {
		t.Fatalf("series locks held at each commit %v, want [2 2]: a batch wrote without its locks", held)
	}
	for _, s := range []string{"L1", "L2", "L3", "L4"} {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("%s has %d bars, want 30", s, n)
		}
	}
}
