package kinds

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/store"
)

// migrated gives a test a Store on a fresh, migrated database and an
// outsider's session on it.
func migrated(t *testing.T) (*store.Store, *pgx.Conn) {
	t.Helper()
	dbURL := testenv.NewDatabase(t)
	s, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: "marketfleet-worker/kinds-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, testenv.Connect(t, dbURL)
}

// update runs one features task for symbol from from on, as the runner
// does: the handler's Write in a transaction of the batch's.
func update(ctx context.Context, s *store.Store, symbol string, iv market.Interval, from time.Time) error {
	j := &runner.Job[struct{}]{Task: NewFeaturesTask(symbol, iv, from, from.AddDate(0, 0, 1), "test", time.Now()), Delivered: 1}
	err := s.InTx(ctx, func(tx *store.Tx) error { return Features{}.Write(ctx, tx, []*runner.Job[struct{}]{j}) })
	if err != nil {
		return err
	}
	return j.Err()
}

// versions maps each feature row of symbol to its row version (xmin): a
// row the update rewrote has a new one.
func versions(t *testing.T, conn *pgx.Conn, symbol string) map[time.Time]uint32 {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT ts, xmin::text::bigint FROM features WHERE symbol = $1`, symbol)
	if err != nil {
		t.Fatal(err)
	}
	out := map[time.Time]uint32{}
	var ts time.Time
	var x int64
	if _, err := pgx.ForEachRow(rows, []any{&ts, &x}, func() error { out[ts.UTC()] = uint32(x); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rewrites counts the rows inserted or rewritten between two versions.
func rewrites(before, after map[time.Time]uint32) int {
	n := 0
	for ts, x := range after {
		if old, ok := before[ts]; !ok || old != x {
			n++
		}
	}
	return n
}

// featureBatches splits 700 bars into batches applied in this order: history
// arriving in pieces of uneven size, one bar at a time, a backfill of older
// bars after newer ones, and updates with more than 600 bars of history
// before them (longer than any warm-up window would plausibly be).
var featureBatches = [][2]int{{100, 160}, {160, 161}, {161, 230}, {0, 100}, {230, 231}, {231, 620}, {620, 621}, {621, 700}}

// TestFeaturesIncrementalEqualsFull: applying bars batch by batch and
// running a features task after each batch leaves exactly (bit for bit) the
// rows that one computation over the whole history gives.
func TestFeaturesIncrementalEqualsFull(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	walk := testenv.Walk("AAPL", 700)
	for _, b := range featureBatches {
		batch := walk[b[0]:b[1]]
		if _, err := s.WriteBars(ctx, batch); err != nil {
			t.Fatal(err)
		}
		before := versions(t, admin, "AAPL")
		if err := update(ctx, s, "AAPL", market.Interval1d, batch[0].TS); err != nil {
			t.Fatalf("features after batch %v: %v", b, err)
		}
		if rewrites(before, versions(t, admin, "AAPL")) == 0 {
			t.Fatalf("features after batch %v changed no row", b)
		}
	}
	if d := testenv.DiffFeatures(testenv.FeatureRows(t, admin, "AAPL"), testenv.Compute(t, walk)); d != "" {
		t.Fatalf("incremental features differ from the full computation: %s", d)
	}
}

// TestFeaturesAfterRevision: revising one old bar rewrites every later row
// (EMA and RSI carry it forever) and nothing before it; running a task
// again rewrites nothing.
func TestFeaturesAfterRevision(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	in := testenv.Walk("AAPL", 300)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	step := func(name string, from time.Time, want int) {
		t.Helper()
		before := versions(t, admin, "AAPL")
		if err := update(ctx, s, "AAPL", market.Interval1d, from); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := rewrites(before, versions(t, admin, "AAPL")); n != want {
			t.Fatalf("%s rewrote %d rows, want %d", name, n, want)
		}
	}
	step("first run", in[0].TS, 300)
	step("same run again", in[0].TS, 0)
	adj := *in[100].AdjClose * 1.05
	in[100].AdjClose = &adj
	if _, err := s.WriteBars(ctx, in[100:101]); err != nil {
		t.Fatal(err)
	}
	step("after revising bar 100", in[100].TS, 200)
	if d := testenv.DiffFeatures(testenv.FeatureRows(t, admin, "AAPL"), testenv.Compute(t, in)); d != "" {
		t.Fatalf("features after the revision: %s", d)
	}
	step("with no bars from then on", in[299].TS.AddDate(0, 0, 1), 0)
}

// TestFeaturesTakesTheSeriesLock: while another session holds the series'
// features lock, a features task waits (here: until its deadline); another
// series is not blocked.
func TestFeaturesTakesTheSeriesLock(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	if _, err := s.WriteBars(ctx, append(testenv.Walk("AAPL", 30), testenv.Walk("MSFT", 30)...)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(x'66656174'::int, hashtext('AAPL/1d'))`); err != nil {
		t.Fatal(err)
	}
	if err := update(ctx, s, "MSFT", market.Interval1d, testenv.WalkStart); err != nil {
		t.Fatalf("features of another series while AAPL is locked: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := update(short, s, "AAPL", market.Interval1d, testenv.WalkStart); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("features while another session held the series lock: %v, want a wait until the deadline", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_unlock(x'66656174'::int, hashtext('AAPL/1d'))`); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureSession(ctx); err != nil { // the cancelled query may have cost the session
		t.Fatal(err)
	}
	if err := update(ctx, s, "AAPL", market.Interval1d, testenv.WalkStart); err != nil {
		t.Fatalf("features after the lock was released: %v", err)
	}
	if n := len(testenv.FeatureRows(t, admin, "AAPL")); n != 30 {
		t.Fatalf("%d feature rows, want 30", n)
	}
}
