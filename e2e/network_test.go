package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/testenv"
)

// proxied returns rawURL with its host replaced by the proxy's address and
// extra query parameters added.
func proxied(t *testing.T, rawURL string, p *testenv.Proxy, query map[string]string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("cannot proxy %q: want a URL with a host", rawURL)
	}
	u.Host = p.Addr()
	q := u.Query()
	for k, v := range query {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("no host in %q", rawURL)
	}
	return u.Host
}

// TestNetworkFaultsOnBothPaths puts a fault-injecting TCP proxy between the
// workers and PostgreSQL and another between the workers and NATS, then
// adds latency, resets connections and black-holes each path in turn (the
// postgres black hole outlasts FLEET_WRITE_TIMEOUT, so a write is cut off) while
// two workers drain a backlog. It also holds a table lock longer than the
// statement timeout. Results must be exact, with one session per worker.
//
// One session per worker is measured as the number of distinct worker
// names among the database's sessions: a black-holed connection leaves a
// half-open backend on the server that the worker can neither see nor
// close; its next session terminates it (WithReapStaleSessions) unless the
// server's idle-in-transaction timeout got there first, and the test checks
// that no such remnant outlives the run.
func TestNetworkFaultsOnBothPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	pgProxy := testenv.NewProxy(t, hostPort(t, e.dbURL))
	natsProxy := testenv.NewProxy(t, hostPort(t, e.natsURL))
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("NF", 400)...)
	stopSampling := e.sampleQuery(t, `SELECT count(DISTINCT application_name) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE 'marketfleet-worker/%'`)
	faulty := []string{
		"DATABASE_URL=" + proxied(t, e.dbURL, pgProxy, map[string]string{"connect_timeout": "2"}),
		"NATS_URL=nats://" + natsProxy.Addr(),
		"FLEET_SYNTHETIC_LATENCY=20ms", "FLEET_BATCH_SIZE=5",
		"FLEET_STATEMENT_TIMEOUT=1s", "FLEET_WRITE_TIMEOUT=2s", "FLEET_ACK_WAIT=5s", "FLEET_RETRY_BASE=200ms",
	}
	workers := []*worker{e.startWorker(t, "nf-1", faulty...), e.startWorker(t, "nf-2", faulty...)}
	step := func(what string, bars int, fault func()) {
		e.waitProgress(t, bars)
		t.Logf("%s at %d bars", what, e.barsNow(t))
		fault()
	}
	step("latency 30ms", 30*20, func() { pgProxy.SetLatency(30 * time.Millisecond); natsProxy.SetLatency(30 * time.Millisecond) })
	step("reset postgres", 30*60, func() { pgProxy.SetLatency(0); natsProxy.SetLatency(0); pgProxy.Reset() })
	step("reset nats", 30*100, natsProxy.Reset)
	step("blackhole postgres 5s", 30*140, func() { pgProxy.Blackhole(); time.Sleep(5 * time.Second); pgProxy.Restore() })
	step("blackhole nats 3s", 30*180, func() { natsProxy.Blackhole(); time.Sleep(3 * time.Second); natsProxy.Restore() })
	step("lock bars beyond the statement timeout", 30*220, func() {
		tx, err := e.admin.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(context.Background(), `LOCK TABLE bars IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		_ = tx.Rollback(context.Background())
	})
	waitDrained(t, js, 180*time.Second)
	logs := ""
	for _, w := range workers {
		w.alive(t)
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
		logs += w.logs.String()
	}
	if n := e.fleetBackends(t, 10*time.Second); n != 0 {
		t.Fatalf("%d fleet backends left on the server after every worker stopped", n)
	}
	if pgProxy.Resets() == 0 || natsProxy.Resets() == 0 {
		t.Fatalf("resets: postgres %d, nats %d: a fault did not fire", pgProxy.Resets(), natsProxy.Resets())
	}
	for _, want := range []string{
		"postgres session lost", // the postgres session was lost (mid-batch: replayed; between batches: replaced)
		"deadline exceeded",     // the client-side write timeout fired (blackhole)
		"57014",                 // the server-side statement timeout fired (lock)
		"nats reconnected",      // the nats path recovered
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("worker logs lack %q: that fault did not fire or was not handled", want)
		}
	}
	e.check(t, specs, nil, stopSampling(), 2)
}

// fleetBackends waits up to within for the fleet's backends in the test's
// database to reach zero and returns the last count.
func (e *env) fleetBackends(t *testing.T, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE 'marketfleet-worker/%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
