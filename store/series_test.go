package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/store"
)

func TestSeriesLocksAreFleetWideAndDieWithTheSession(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	a := open(t, dbURL, "marketfleet-worker/lock-a")
	b := open(t, dbURL, "marketfleet-worker/lock-b")
	ctx := context.Background()
	aapl, msft := market.Series{Symbol: "AAPL", Interval: "1d"}, market.Series{Symbol: "MSFT", Interval: "1d"}
	aapl5m := market.Series{Symbol: "AAPL", Interval: "5m"}
	took, err := a.LockSeries(ctx, []market.Series{aapl, msft})
	if err != nil || !reflect.DeepEqual(took, []bool{true, true}) {
		t.Fatalf("a.LockSeries = %v, %v; want both", took, err)
	}
	took, err = b.LockSeries(ctx, []market.Series{msft, aapl5m, aapl})
	if err != nil || !reflect.DeepEqual(took, []bool{false, true, false}) {
		t.Fatalf("b.LockSeries = %v, %v; want [false true false] (another interval is another series)", took, err)
	}
	// Locks are re-entrant: a second hold of AAPL needs a second release.
	if took, err = a.LockSeries(ctx, []market.Series{aapl}); err != nil || !took[0] {
		t.Fatalf("a's second hold of AAPL = %v, %v", took, err)
	}
	if err := a.UnlockSeries(ctx, []market.Series{aapl, msft}); err != nil {
		t.Fatal(err)
	}
	if took, err = b.LockSeries(ctx, []market.Series{aapl, msft}); err != nil || !reflect.DeepEqual(took, []bool{false, true}) {
		t.Fatalf("after one release of each, b.LockSeries(AAPL, MSFT) = %v, %v; want [false true]", took, err)
	}
	if err := a.UnlockSeries(ctx, []market.Series{aapl}); err != nil {
		t.Fatal(err)
	}
	took, err = b.LockSeries(ctx, []market.Series{aapl})
	if err != nil || !reflect.DeepEqual(took, []bool{true}) {
		t.Fatalf("after a's unlock, b.LockSeries = %v, %v", took, err)
	}
	// b's session ends without unlocking: its locks go with it.
	b.Abort()
	deadline := time.Now().Add(5 * time.Second)
	for {
		took, err = a.LockSeries(ctx, []market.Series{aapl})
		if err != nil {
			t.Fatal(err)
		}
		if took[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock of an aborted session is still held")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTailsAndWriteResultSeries(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	in := append(bars("AAPL", 10), bars("MSFT", 3)...)
	res, err := s.WriteBars(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.SeriesChange{}
	for _, c := range res.Series {
		byName[c.Symbol] = c
	}
	a := byName["AAPL"]
	if len(res.Series) != 2 || a.Rows != 10 || !a.First.Equal(in[0].TS) || !a.Last.Equal(in[9].TS) || byName["MSFT"].Rows != 3 {
		t.Fatalf("series changes = %+v", res.Series)
	}
	// Rewriting changes nothing, so no series is reported; one revised bar
	// reports exactly that bar.
	res, err = s.WriteBars(ctx, in)
	if err != nil || len(res.Series) != 0 || res.Changed != 0 {
		t.Fatalf("rewrite: %+v, %v", res, err)
	}
	in[4].Close += 1
	res, err = s.WriteBars(ctx, in)
	if err != nil || len(res.Series) != 1 || res.Series[0].Rows != 1 || !res.Series[0].First.Equal(in[4].TS) {
		t.Fatalf("revision of one bar: %+v, %v", res, err)
	}
	last, err := s.Tails(ctx, []market.Series{{Symbol: "AAPL", Interval: in[0].Interval},
		{Symbol: "MSFT", Interval: in[0].Interval}, {Symbol: "NONE", Interval: in[0].Interval}})
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 2 || !last[market.Series{Symbol: "AAPL", Interval: in[0].Interval}].Last.Equal(in[9].TS) ||
		!last[market.Series{Symbol: "AAPL", Interval: in[0].Interval}].FirstProvisional.IsZero() {
		t.Fatalf("Tails = %v", last)
	}
}
