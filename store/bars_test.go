package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/testenv"
	"marketfleet/outcome"
	"marketfleet/store"
)

// checksum digests every column of every row, updated_at included.
func checksum(t *testing.T, c *pgx.Conn) (string, int) {
	t.Helper()
	var sum string
	var n int
	err := c.QueryRow(context.Background(), `
		SELECT coalesce(md5(string_agg(b::text, '|' ORDER BY symbol, "interval", ts)), ''), count(*) FROM bars b`).Scan(&sum, &n)
	if err != nil {
		t.Fatal(err)
	}
	return sum, n
}

func migrated(t *testing.T) (*store.Store, *pgx.Conn) {
	t.Helper()
	dbURL := testenv.NewDatabase(t)
	s := open(t, dbURL, app)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, testenv.Connect(t, dbURL)
}

func TestWriteBarsIsIdempotent(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	in := append(bars("AAPL", 30), bars("BRK-B", 30)...)
	res, err := s.WriteBars(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 60 || res.Changed != 60 {
		t.Fatalf("first write = %+v, want 60 rows, 60 changed", res)
	}
	sum1, n1 := checksum(t, admin)
	time.Sleep(10 * time.Millisecond) // a rewrite would move updated_at
	res, err = s.WriteBars(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 0 {
		t.Fatalf("second write changed %d rows, want 0", res.Changed)
	}
	sum2, n2 := checksum(t, admin)
	if sum1 != sum2 || n1 != n2 || n1 != 60 {
		t.Fatalf("table changed by a repeated write: %s/%d -> %s/%d", sum1, n1, sum2, n2)
	}
}

func TestWriteBarsUpdatesChangedValues(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	in := bars("MSFT", 5)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	in[2].Close = 99
	in[3].AdjClose = nil
	res, err := s.WriteBars(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 2 {
		t.Fatalf("changed = %d, want 2", res.Changed)
	}
	var closeV float64
	var adj *float64
	err = admin.QueryRow(ctx, `SELECT close FROM bars WHERE symbol='MSFT' AND ts=$1`, in[2].TS).Scan(&closeV)
	if err != nil || closeV != 99 {
		t.Fatalf("close = %v, %v; want 99", closeV, err)
	}
	err = admin.QueryRow(ctx, `SELECT adj_close FROM bars WHERE symbol='MSFT' AND ts=$1`, in[3].TS).Scan(&adj)
	if err != nil || adj != nil {
		t.Fatalf("adj_close = %v, %v; want NULL", adj, err)
	}
}

func TestWriteBarsDeduplicatesWithinABatch(t *testing.T) {
	s, admin := migrated(t)
	in := bars("^GSPC", 3)
	dup := in[1]
	dup.Close = 42
	in = append(in, dup)
	res, err := s.WriteBars(context.Background(), in)
	if err != nil {
		t.Fatalf("WriteBars with a repeated key: %v", err)
	}
	if res.Rows != 3 {
		t.Fatalf("rows = %d, want 3", res.Rows)
	}
	var closeV float64
	if err := admin.QueryRow(context.Background(), `SELECT close FROM bars WHERE ts=$1`, dup.TS).Scan(&closeV); err != nil || closeV != 42 {
		t.Fatalf("close = %v, %v; want the last value 42", closeV, err)
	}
}

func TestWriteBarsFailureCommitsNothing(t *testing.T) {
	s, admin := migrated(t)
	in := bars("TSLA", 3)
	in[2].Symbol = "" // violates the CHECK constraint: the whole write must fail
	_, err := s.WriteBars(context.Background(), in)
	if err == nil {
		t.Fatal("WriteBars with an invalid row succeeded")
	}
	if got := outcome.Of(err); got != outcome.Data || store.SQLState(err) != "23514" {
		t.Fatalf("error %v: class %s, sqlstate %q; want permanent 23514", err, got, store.SQLState(err))
	}
	if _, n := checksum(t, admin); n != 0 {
		t.Fatalf("%d rows committed by a failed write, want 0", n)
	}
	if !s.Up() {
		t.Fatal("a data error cost the session")
	}
}

func TestCountSessions(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	prefix := "marketfleet-worker/count-" + time.Now().Format("150405.000000") + "/"
	a := open(t, dbURL, prefix+"a")
	open(t, dbURL, prefix+"b")
	n, err := a.CountSessions(context.Background(), prefix)
	if err != nil || n != 2 {
		t.Fatalf("CountSessions = %d, %v; want 2", n, err)
	}
}
