package leases_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"marketfleet/internal/testenv"
	"marketfleet/leases"
	"marketfleet/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	aapl = market.Series{Symbol: "AAPL", Interval: market.Interval1d}
	msft = market.Series{Symbol: "MSFT", Interval: market.Interval1d}
	brk  = market.Series{Symbol: "BRK-B", Interval: market.Interval60m}
)

func open(t *testing.T, js jetstream.JetStream, holder string, ttl time.Duration) *leases.Table {
	t.Helper()
	tab, err := leases.Open(context.Background(), js, leases.Config{Holder: holder, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tab.Close(context.Background()) })
	return tab
}

func lock(t *testing.T, tab *leases.Table, series ...market.Series) []bool {
	t.Helper()
	took, err := tab.LockSeries(context.Background(), series)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// Two workers never hold the same series; a released series is free at
// once, again and again (a deleted key is taken anew).
func TestOneHolderPerSeries(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	a, b := open(t, js, "a", 3*time.Second), open(t, js, "b", 3*time.Second)
	if got := lock(t, a, aapl, msft); !got[0] || !got[1] {
		t.Fatalf("a took %v, want both", got)
	}
	if got := lock(t, b, aapl, brk); got[0] || !got[1] {
		t.Fatalf("b took %v, want brk only (a holds aapl)", got)
	}
	for range 3 {
		if err := a.UnlockSeries(context.Background(), []market.Series{aapl}); err != nil {
			t.Fatal(err)
		}
		if got := lock(t, b, aapl); !got[0] {
			t.Fatal("b could not take aapl once a released it")
		}
		if got := lock(t, a, aapl); got[0] {
			t.Fatal("a took aapl while b holds it")
		}
		if err := b.UnlockSeries(context.Background(), []market.Series{aapl}); err != nil {
			t.Fatal(err)
		}
		if got := lock(t, a, aapl); !got[0] {
			t.Fatal("a could not take aapl back")
		}
	}
	if a.Epoch() != 0 || b.Epoch() != 0 {
		t.Fatalf("epochs %d, %d: no lease was lost", a.Epoch(), b.Epoch())
	}
}

// A lease held longer than its TTL is renewed; one whose holder stopped
// renewing (killed: here, its table left without Close) is free after the
// TTL; one deleted under its holder is lost, and the holder's epoch moves.
func TestLeasesAreRenewedExpireAndAreLost(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	const ttl = 2 * time.Second
	a, b := open(t, js, "a", ttl), open(t, js, "b", ttl)
	lock(t, a, aapl)
	held := time.Now().Add(3 * ttl)
	testenv.Eventually(t, 5*ttl, "3 TTLs held", func() bool {
		if got := lock(t, b, aapl); got[0] {
			t.Fatal("b took aapl while a renews it")
		}
		return time.Now().After(held)
	})

	// A holder that stops renewing (its process killed) loses it after the TTL.
	ghost := leasesWithoutRenewal(t, js, "ghost", ttl)
	lock(t, ghost, msft)
	start := time.Now()
	testenv.Eventually(t, 5*ttl, "msft free after the ghost's TTL", func() bool { return lock(t, b, msft)[0] })
	if took := time.Since(start); took < ttl/2 {
		t.Fatalf("msft free after %s, before the TTL", took)
	}

	// Deleted under its holder: lost, and the epoch moves.
	kv, err := js.KeyValue(context.Background(), leases.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), leases.Key(aapl)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*ttl, "a notices it lost aapl", func() bool { return a.Epoch() == 1 && a.Held() == 0 })
}

// leasesWithoutRenewal is a table whose renewals stop at once, like a
// killed worker's (Close stops them without releasing what it held, since
// its keys are gone from its view first).
func leasesWithoutRenewal(t *testing.T, js jetstream.JetStream, holder string, ttl time.Duration) *leases.Table {
	t.Helper()
	tab, err := leases.Open(context.Background(), js, leases.Config{Holder: holder, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tab.Close(context.Background()) })
	tab.StopRenewing()
	return tab
}
