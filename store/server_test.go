package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/store"
)

func TestServerLimitsCountsTheStoresOwnSession(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	const name = "marketfleet-worker/limits-test"
	s := open(t, dbURL, name)
	l, err := s.ServerLimits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var maxConn, reserved int
	admin := testenv.Connect(t, dbURL)
	if err := admin.QueryRow(context.Background(), `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int`).Scan(&maxConn, &reserved); err != nil {
		t.Fatal(err)
	}
	if l.MaxConnections != maxConn || l.SuperuserReserved != reserved {
		t.Fatalf("limits %+v, want max_connections %d, superuser_reserved %d", l, maxConn, reserved)
	}
	if l.SelfApp != name || l.Sessions[name] != 1 {
		t.Fatalf("self %q, sessions named so %d; want %q and 1", l.SelfApp, l.Sessions[name], name)
	}
	total := 0
	for _, n := range l.Sessions {
		total += n
	}
	if total < 2 || total > maxConn { // this Store and the admin connection at least
		t.Fatalf("%d client sessions counted, want 2..%d", total, maxConn)
	}
}

func TestConnectGateRefusesWithoutDialing(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	const name = "marketfleet-worker/gate-test"
	closed := errors.New("no slot")
	var open atomic.Bool
	gate := func(context.Context) error {
		if open.Load() {
			return nil
		}
		return closed
	}
	start := time.Now()
	_, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: name, ConnectGate: gate})
	if !errors.Is(err, store.ErrGateClosed) || !errors.Is(err, closed) {
		t.Fatalf("Open with a closed gate = %v, want ErrGateClosed wrapping the gate's error", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("a closed gate took %s: it must not be retried", time.Since(start))
	}
	if got := sessions(t, admin, name); len(got) != 0 {
		t.Fatalf("a closed gate still opened sessions %v", got)
	}
	open.Store(true)
	s, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: name, ConnectGate: gate})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	waitSessions(t, admin, name, 1)
	// The gate closes: the next reconnect is refused.
	open.Store(false)
	s.Abort()
	if err := s.EnsureSession(context.Background()); !errors.Is(err, store.ErrGateClosed) {
		t.Fatalf("EnsureSession after the gate closed = %v, want ErrGateClosed", err)
	}
	waitSessions(t, admin, name, 0)
}

// Abort from another goroutine cuts a transaction mid-flight: nothing is
// committed and the server session is gone.
func TestAbortCutsARunningTransaction(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	const name = "marketfleet-worker/abort-test"
	inTx, cutOff := make(chan struct{}), make(chan struct{})
	s, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The session is gone from the server at once, while the write's
	// goroutine still waits inside the transaction.
	gone := make(chan time.Duration, 1)
	go func() {
		<-inTx
		cut := time.Now()
		s.Abort()
		close(cutOff)
		for len(sessions(t, admin, name)) > 0 && time.Since(cut) < 5*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		gone <- time.Since(cut)
	}()
	err = s.InTx(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.WriteBars(context.Background(), bars("ABRT", 5)); err != nil {
			return err
		}
		close(inTx)
		<-cutOff // commit only once the session was cut
		return nil
	})
	if err == nil {
		t.Fatal("the write committed although its session was cut")
	}
	if s.Up() {
		t.Fatal("the Store still reports a session after Abort")
	}
	took := <-gone
	t.Logf("session gone from pg_stat_activity %s after Abort; the write failed with: %v", took.Round(time.Millisecond), err)
	if took > time.Second {
		t.Fatalf("the server kept the session %s after Abort", took)
	}
	var n int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM bars`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d bars committed (%v), want none", n, err)
	}
}
