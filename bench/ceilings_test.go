package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/testenv"
	"marketfleet/market"
)

func TestJetStreamCeiling(t *testing.T) {
	n := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const msgs = 2000
	rate, err := jetStreamCeiling(ctx, n.URL(), msgs, 10, 2, ackFlushed)
	if err != nil {
		t.Fatal(err)
	}
	// Plausible: a loopback server confirms thousands of acks a second; a
	// million would mean the timing or the count is wrong.
	if rate < 200 || rate > 1e6 {
		t.Fatalf("jetStreamCeiling = %.0f msgs/s, want 200..1e6", rate)
	}
	t.Logf("JetStream ceiling: %.0f msgs/s (n=%d, batch 10, 2 consumers)", rate, msgs)

	// Every message was consumed, and the stream is gone.
	_, js := n.Connect(t)
	if _, err := js.Stream(ctx, ceilStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream %s after the measurement: err %v, want ErrStreamNotFound", ceilStream, err)
	}
	// A leftover stream (an interrupted run) is replaced, not an error.
	// Right after the measurement's delete the server may still be removing
	// the old store ("error creating store for stream"): try until it has.
	testenv.Eventually(t, 5*time.Second, "the leftover stream created", func() bool {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: ceilStream, Subjects: []string{ceilSubject}})
		if err != nil {
			t.Logf("create the leftover stream: %v", err)
		}
		return err == nil
	})
	if _, err := js.Publish(ctx, ceilSubject, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	if _, err := jetStreamCeiling(ctx, n.URL(), 100, 7, 3, ackPlain); err != nil {
		t.Fatalf("with a leftover stream: %v", err)
	}
}

func TestJetStreamCeilingRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct{ n, batch, consumers int }{{0, 10, 1}, {10, 0, 1}, {10, 1001, 1}, {10, 10, 0}} {
		if _, err := jetStreamCeiling(context.Background(), "nats://127.0.0.1:1", tc.n, tc.batch, tc.consumers, ackConfirmed); err == nil {
			t.Errorf("jetStreamCeiling(n=%d, batch=%d, consumers=%d): no error", tc.n, tc.batch, tc.consumers)
		}
	}
}

func TestUpsertCeiling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct{ batches, tasks, bars int }{{20, 10, 30}, {20, 10, 1}} {
		dbURL := testenv.NewDatabase(t)
		rate, err := upsertCeiling(ctx, dbURL, tc.batches, tc.tasks, tc.bars)
		if err != nil {
			t.Fatal(err)
		}
		if rate < 100 || rate > 1e7 {
			t.Fatalf("upsertCeiling(%d x %d x %d) = %.0f rows/s, want 100..1e7", tc.batches, tc.tasks, tc.bars, rate)
		}
		t.Logf("upsert ceiling: %.0f rows/s (%d batches x %d tasks x %d bars)", rate, tc.batches, tc.tasks, tc.bars)

		// The rows were written, once each, through one session.
		conn := testenv.Connect(t, dbURL)
		var rows, symbols int
		if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT symbol) FROM bars WHERE "interval" = $1`,
			string(market.Interval1d)).Scan(&rows, &symbols); err != nil {
			t.Fatal(err)
		}
		if want := tc.batches * tc.tasks * tc.bars; rows != want || symbols != tc.tasks {
			t.Fatalf("bars table: %d rows of %d symbols, want %d of %d", rows, symbols, want, tc.tasks)
		}

		// Measuring again on the same rows would time no-op updates: refused.
		if _, err := upsertCeiling(ctx, dbURL, tc.batches, tc.tasks, tc.bars); err == nil {
			t.Fatal("second run on the same database: no error")
		}
	}
}

// TestWritePathsWriteTheSameRows: every compared write path leaves the
// same table, so comparing their rates compares equal work.
func TestWritePathsWriteTheSameRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	merge, err := mergeStatement()
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, path := range writePaths {
		dbURL := testenv.NewDatabase(t)
		rate, err := writePathRate(ctx, dbURL, path, merge, 5, 4, 30)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rate <= 0 {
			t.Fatalf("%s: rate %.0f", path, rate)
		}
		var n int
		var sum string
		if err := testenv.Connect(t, dbURL).QueryRow(ctx, `SELECT count(*), md5(string_agg(
			concat_ws(',', symbol, "interval", ts, open, high, low, close, adj_close, volume, source), ';' ORDER BY symbol, ts))
			FROM bars`).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if n != 5*4*30 {
			t.Fatalf("%s: %d rows, want %d", path, n, 5*4*30)
		}
		sums[path] = sum
	}
	for _, path := range writePaths {
		if sums[path] != sums[pathUnnest] {
			t.Errorf("%s left a different table than %s", path, pathUnnest)
		}
	}
}
