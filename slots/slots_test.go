package slots_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"marketfleet/internal/testenv"
	"marketfleet/slots"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fast is short enough for tests and long enough that a holder starved of
// CPU by a loaded test run (renewals every 300 ms) keeps its lease.
var fast = slots.Config{TTL: 3 * time.Second, Renew: 300 * time.Millisecond, Poll: 500 * time.Millisecond}

func open(t *testing.T, js jetstream.JetStream) *slots.Table {
	t.Helper()
	tab, err := slots.Open(context.Background(), js, fast)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func fixed(n int) slots.LimitFunc { return func(slots.Limit, bool) int { return n } }

func acquire(t *testing.T, tab *slots.Table, holder string, limit slots.LimitFunc, within time.Duration) *slots.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	l, err := tab.Acquire(ctx, holder, limit)
	if err != nil {
		t.Fatalf("%s: %v", holder, err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

// acquireAsync starts Acquire in the background and returns the channel
// that receives the lease; the lease is released when the test ends.
func acquireAsync(t *testing.T, tab *slots.Table, holder string, limit slots.LimitFunc) (<-chan *slots.Lease, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *slots.Lease, 1)
	done := make(chan *slots.Lease, 1)
	go func() {
		l, err := tab.Acquire(ctx, holder, limit)
		if err == nil {
			got <- l
		}
		done <- l
	}()
	t.Cleanup(func() {
		cancel()
		if l := <-done; l != nil {
			_ = l.Release(context.Background())
		}
	})
	return got, cancel
}

func TestNoMoreHoldersThanSlots(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tab := open(t, js)
	a := acquire(t, tab, "a", fixed(2), 5*time.Second)
	b := acquire(t, tab, "b", fixed(2), 5*time.Second)
	if a.Slot() != 0 || b.Slot() != 1 {
		t.Fatalf("slots %d and %d, want 0 and 1 (lowest free first)", a.Slot(), b.Slot())
	}
	got, _ := acquireAsync(t, tab, "c", fixed(2))
	// Renewals keep both leases for several TTLs: c must keep waiting.
	select {
	case l := <-got:
		t.Fatalf("c took slot %d while both were held", l.Slot())
	case <-time.After(2 * fast.TTL):
	}
	st, err := tab.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Held) != 2 || len(st.Waiting) != 1 || st.Waiting[0].Holder != "c" {
		t.Fatalf("state = %+v, want 2 held and c waiting", st)
	}
	if err := a.Check(context.Background()); err != nil {
		t.Fatalf("a renewed its lease, yet Check says %v", err)
	}
	// A release frees the slot at once: c gets it well before a TTL.
	released := time.Now()
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.Slot() != 0 {
			t.Fatalf("c took slot %d, want the freed slot 0", l.Slot())
		}
		t.Logf("c took slot 0 %s after the release", time.Since(released))
		if time.Since(released) > fast.TTL {
			t.Fatalf("took %s, want well under the TTL (%s)", time.Since(released), fast.TTL)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("c did not take the released slot")
	}
	if err := a.Check(context.Background()); !errors.Is(err, slots.ErrLost) {
		t.Fatalf("a's Check after release = %v, want ErrLost", err)
	}
}

// A holder cut off from NATS stops trusting its lease before the server
// lets anyone else take the slot.
func TestCutOffHolderLosesBeforeTakeover(t *testing.T) {
	srv := testenv.NATS(t)
	nc, jsA := srv.Connect(t)
	_, jsB := srv.Connect(t)
	tabA, tabB := open(t, jsA), open(t, jsB)
	a := acquire(t, tabA, "a", fixed(1), 5*time.Second)
	got, _ := acquireAsync(t, tabB, "b", fixed(1))

	nc.Close() // a can no longer renew
	cut := time.Now()
	var lostAt, tookAt time.Time
	select {
	case <-a.Lost():
		lostAt = time.Now()
	case <-time.After(5 * time.Second):
		t.Fatal("a never noticed that it could not renew")
	}
	if err := a.Check(context.Background()); !errors.Is(err, slots.ErrLost) {
		t.Fatalf("a's Check = %v, want ErrLost", err)
	}
	select {
	case l := <-got:
		tookAt = time.Now()
		if l.Slot() != 0 {
			t.Fatalf("b took slot %d", l.Slot())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b never took the slot of the vanished holder")
	}
	t.Logf("a lost its lease %s after the cut; b took the slot %s after the cut", lostAt.Sub(cut), tookAt.Sub(cut))
	if !lostAt.Before(tookAt) {
		t.Fatalf("b took the slot (%s) before a gave it up (%s)", tookAt.Sub(cut), lostAt.Sub(cut))
	}
}

// A lease whose key was taken over is lost at the next renewal.
func TestTakenOverLeaseIsLost(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tab := open(t, js)
	a := acquire(t, tab, "a", fixed(1), 5*time.Second)
	kv, err := js.KeyValue(context.Background(), slots.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "slot.0", []byte(`{"holder":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("a kept a lease someone else overwrote")
	}
	if err := a.Err(); !errors.Is(err, slots.ErrLost) {
		t.Fatalf("Err = %v, want ErrLost", err)
	}
	// Release must not delete the intruder's key.
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(context.Background(), "slot.0"); err != nil || string(e.Value()) != `{"holder":"intruder"}` {
		t.Fatalf("the intruder's key is gone after a's release: %v", err)
	}
}

// Without a published budget only slot 0 can be taken; the published
// budget then opens the others, and waiters see it at once.
func TestPublishedLimitOpensSlots(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tab := open(t, js)
	limit := func(l slots.Limit, ok bool) int {
		if !ok {
			return 1
		}
		return min(l.Slots, 3)
	}
	a := acquire(t, tab, "a", limit, 5*time.Second)
	if a.Slot() != 0 {
		t.Fatalf("first slot %d, want 0", a.Slot())
	}
	got, _ := acquireAsync(t, tab, "b", limit)
	select {
	case l := <-got:
		t.Fatalf("b took slot %d before any budget was published", l.Slot())
	case <-time.After(time.Second):
	}
	if err := tab.PublishLimit(context.Background(), slots.Limit{Slots: 5, By: "a", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.Slot() != 1 {
			t.Fatalf("b took slot %d, want 1", l.Slot())
		}
	case <-time.After(fast.Poll + time.Second):
		t.Fatal("b did not take slot 1 after the budget was published")
	}
	pub, ok, err := tab.CurrentLimit(context.Background())
	if err != nil || !ok || pub.Slots != 5 || pub.By != "a" {
		t.Fatalf("CurrentLimit = %+v %v %v", pub, ok, err)
	}
}

func TestRevokeAndRelease(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tab := open(t, js)
	a := acquire(t, tab, "a", fixed(1), 5*time.Second)
	a.Revoke()
	if err := a.Check(context.Background()); !errors.Is(err, slots.ErrRevoked) {
		t.Fatalf("Check after Revoke = %v, want ErrRevoked", err)
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := acquire(t, tab, "b", fixed(1), time.Second)
	if b.Slot() != 0 {
		t.Fatalf("b took slot %d", b.Slot())
	}
}

func TestInvalidConfig(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	for _, cfg := range []slots.Config{{TTL: 500 * time.Millisecond}, {TTL: 3 * time.Second, Renew: 2 * time.Second}} {
		if _, err := slots.Open(context.Background(), js, cfg); !errors.Is(err, slots.ErrInvalidConfig) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// A budget is published under its database's key: a fleet of another
// database on the same NATS never reads it.
func TestBudgetIsKeyedByDatabase(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	tableOf := func(db string) *slots.Table {
		c := fast
		c.Database = db
		tab, err := slots.Open(ctx, js, c)
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	a, a2, b := tableOf("pg-a:5432/market"), tableOf("pg-a:5432/market"), tableOf("pg-b:5432/market")
	if err := a.PublishLimit(ctx, slots.Limit{Slots: 7, By: "w-a", At: time.Now(), Database: "pg-a:5432/market"}); err != nil {
		t.Fatal(err)
	}
	if l, ok, err := a2.CurrentLimit(ctx); err != nil || !ok || l.Slots != 7 {
		t.Fatalf("same database: %+v, %v, %v; want the budget of 7", l, ok, err)
	}
	if l, ok, err := b.CurrentLimit(ctx); err != nil || ok {
		t.Fatalf("another database: %+v, %v, %v; want no budget", l, ok, err)
	}
	if st, err := b.State(ctx); err != nil || st.Limit != nil {
		t.Fatalf("another database's state: %+v, %v; want no budget", st, err)
	}
}
