package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"marketfleet/store"
)

// Delays are one row per task message (the latest wins, within a call and
// across calls), only those not over count as waiting, and pruning drops
// the old ones.
func TestDelayedTasks(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 5, 15, 0, 0, 0, time.UTC)
	d := func(seq uint64, symbol string, retryIn time.Duration) store.DelayedTask {
		return store.DelayedTask{Stream: "T", Seq: seq, Symbol: symbol, Kind: "collect", Class: "transient",
			Reason: "HTTP 429 " + strings.Repeat("é", 150), Worker: "w", DelayedAt: now, RetryAt: now.Add(retryIn)}
	}
	if sum, err := s.DelayedAt(ctx, now); err != nil || sum.Waiting != 0 || sum.Longest.Symbol != "" {
		t.Fatalf("empty: %+v, %v", sum, err)
	}
	if err := s.AddDelayedTasks(ctx, []store.DelayedTask{d(1, "A", time.Minute), d(2, "B", -time.Minute), d(1, "A", 2*time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDelayedTasks(ctx, []store.DelayedTask{d(3, "C", 30*time.Second), d(2, "B", -2*time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sum, err := s.DelayedAt(ctx, now)
	if err != nil || sum.Waiting != 2 || sum.Longest.Symbol != "A" || sum.Longest.Seq != 1 || !sum.Longest.RetryAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("summary %+v, %v: want 2 waiting (A, C), A longest until +2m", sum, err)
	}
	if n, err := s.PruneDelayedTasks(ctx, now.Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v: want B's row only", n, err)
	}
}
