package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"marketfleet/features"
	"marketfleet/market"
	"marketfleet/store"
)

// featureBatches splits 700 bars into batches applied in this order: history
// arriving in pieces of uneven size, one bar at a time, a backfill of older
// bars after newer ones, and updates with more than 600 bars of history
// before them (longer than any warm-up window would plausibly be).
var featureBatches = [][2]int{{100, 160}, {160, 161}, {161, 230}, {0, 100}, {230, 231}, {231, 620}, {620, 621}, {621, 700}}

// TestFeaturesIncrementalEqualsFull: applying bars batch by batch and
// updating features after each batch leaves exactly (bit for bit) the rows
// that one computation over the whole history gives, both through
// UpdateFeatures and through ReadBars(AllHistory) + Compute + Since +
// WriteFeatures.
func TestFeaturesIncrementalEqualsFull(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	viaUpdate, viaParts := featureWalk("AAPL", 700), featureWalk("MSFT", 700)
	for i := range viaParts {
		viaParts[i].Symbol = "MSFT"
	}
	for _, b := range featureBatches {
		batchA, batchB := viaUpdate[b[0]:b[1]], viaParts[b[0]:b[1]]
		if _, err := s.WriteBars(ctx, append(append([]market.Bar{}, batchA...), batchB...)); err != nil {
			t.Fatal(err)
		}
		changed, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, batchA[0].TS)
		if err != nil || changed == 0 {
			t.Fatalf("UpdateFeatures after batch %v = %d, %v; want some rows changed", b, changed, err)
		}
		updateByParts(t, s, batchB[0].TS)
	}
	for _, series := range [][]market.Bar{viaUpdate, viaParts} {
		want := mustCompute(t, series)
		if d := diffRows(readFeatureTable(t, admin, series[0].Symbol), want); d != "" {
			t.Fatalf("%s incremental features differ from the full computation: %s", series[0].Symbol, d)
		}
	}
}

// updateByParts is what a caller of the three primitives does.
func updateByParts(t *testing.T, s *store.Store, from time.Time) {
	t.Helper()
	ctx := context.Background()
	bars, err := s.ReadBars(ctx, "MSFT", market.Interval1d, from, store.AllHistory)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := features.Compute(bars)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFeatures(ctx, features.Since(rows, from)); err != nil {
		t.Fatal(err)
	}
}

// TestFeaturesUpdateAfterRevision: revising one old bar changes every later
// row (EMA and RSI carry it forever) and nothing before it.
func TestFeaturesUpdateAfterRevision(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	in := featureWalk("AAPL", 300)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, in[0].TS); err != nil || n != 300 {
		t.Fatalf("first UpdateFeatures = %d, %v; want 300", n, err)
	}
	if n, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, in[0].TS); err != nil || n != 0 {
		t.Fatalf("repeated UpdateFeatures = %d, %v; want 0", n, err)
	}
	adj := *in[100].AdjClose * 1.05
	in[100].AdjClose = &adj
	if _, err := s.WriteBars(ctx, in[100:101]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, in[100].TS); err != nil || n != 200 {
		t.Fatalf("UpdateFeatures after revising bar 100 = %d, %v; want 200 (every later row)", n, err)
	}
	if d := diffRows(readFeatureTable(t, admin, "AAPL"), mustCompute(t, in)); d != "" {
		t.Fatalf("features after the revision: %s", d)
	}
	if n, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, in[299].TS.AddDate(0, 0, 1)); err != nil || n != 0 {
		t.Fatalf("UpdateFeatures with no bars from then on = %d, %v; want 0", n, err)
	}
	if _, err := s.UpdateFeatures(ctx, "AAPL", "7d", in[0].TS); !errors.Is(err, market.ErrInvalidInterval) {
		t.Fatalf("UpdateFeatures with interval 7d: %v, want ErrInvalidInterval", err)
	}
}

// TestFeaturesUpdateTakesTheSeriesLock: while another session holds the
// series' advisory lock, UpdateFeatures waits (here: until its deadline);
// another series is not blocked.
func TestFeaturesUpdateTakesTheSeriesLock(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	if _, err := s.WriteBars(ctx, append(featureWalk("AAPL", 30), featureWalk("MSFT", 30)...)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(x'66656174'::int, hashtext('AAPL/1d'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFeatures(ctx, "MSFT", market.Interval1d, featureT0); err != nil {
		t.Fatalf("UpdateFeatures of another series while AAPL is locked: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.UpdateFeatures(short, "AAPL", market.Interval1d, featureT0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("UpdateFeatures while another session held the series lock: %v, want a wait until the deadline", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_unlock(x'66656174'::int, hashtext('AAPL/1d'))`); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureSession(ctx); err != nil { // the cancelled query may have cost the session
		t.Fatal(err)
	}
	if n, err := s.UpdateFeatures(ctx, "AAPL", market.Interval1d, featureT0); err != nil || n != 30 {
		t.Fatalf("UpdateFeatures after the lock was released = %d, %v; want 30", n, err)
	}
}
