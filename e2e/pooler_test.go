package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/sampler"
	"marketfleet/internal/testenv"
	"marketfleet/leases"
	"marketfleet/queue"
)

// A worker pointed at a transaction-mode PgBouncer (which silently drops
// its startup parameters, as the tests' one is configured to) stops at once
// with one clear line, before taking a task, instead of running with
// series locks that exclude nothing.
func TestWorkerBehindPgBouncerStopsWithOneClearLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enqueue(t, "2024-01-01", "2024-01-31", "AAPL")
	pooled := testenv.ThroughPgBouncer(t, e.dbURL)
	w := e.startWorker(t, "pooled", "DATABASE_URL="+pooled)
	var code int
	select {
	case err := <-w.done:
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker behind PgBouncer still runs")
	}
	if code != 1 {
		t.Fatalf("worker exit %d, want 1", code)
	}
	var last string
	for _, l := range strings.Split(strings.TrimSpace(w.logs.String()), "\n") {
		last = l
	}
	if !strings.Contains(last, "transaction-mode connection pooler") || !strings.Contains(last, "statement_timeout is 0 ms") ||
		!strings.HasPrefix(last, "worker: ") {
		t.Fatalf("last line %q, want the worker's one line naming the pooler and what it dropped", last)
	}
	info, err := consumerInfoOf(e, t)
	if err == nil && info > 0 {
		t.Fatalf("%d tasks delivered to a worker behind the pooler", info)
	}
}

// consumerInfoOf is how many tasks the workers' consumer has delivered
// (an error when no worker ever created it).
func consumerInfoOf(e *env, t *testing.T) (uint64, error) {
	c, err := e.js(t).Consumer(context.Background(), queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		return 0, err
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return 0, err
	}
	return info.Delivered.Consumer, nil
}

// Behind a transaction-mode PgBouncer with FLEET_DB_POOLER=pgbouncer, three
// workers, one SIGKILLed inside its transaction and the pooler's server
// connections terminated mid-run, store exactly the control table; no
// advisory lock is left on the server afterwards (the series locks are NATS
// KV leases), and the leases are all released.
func TestFleetBehindPgBouncerLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("Q", 30)...)
	pooled := testenv.ThroughPgBouncer(t, e.dbURL)
	via := []string{"DATABASE_URL=" + pooled, "FLEET_DB_POOLER=pgbouncer", quickRedelivery}
	victim := e.startWorker(t, "pooled-victim", append(via, "MARKETFLEET_TEST_PAUSE=before-commit:1h")...)
	victim.waitLog(t, "test pause point reached", 30*time.Second)
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	a := e.startWorker(t, "pooled-a", via...)
	b := e.startWorker(t, "pooled-b", via...)
	a.waitLog(t, "worker running", 30*time.Second)
	// The pooler's server connections die under the running workers.
	if _, err := e.admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, js, 120*time.Second)
	for _, w := range []*worker{a, b} {
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
	}
	e.check(t, specs, nil, sampler.Stats{Samples: 5, Peak: 1}, 3)
	var locks int
	if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = current_database()`).Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if locks != 0 {
		var detail string
		_ = e.admin.QueryRow(context.Background(), `SELECT string_agg(format('%s/%s/%s pid %s granted %s', l.classid, l.objid, l.objsubid, l.pid, l.granted), '; ')
			FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()`).Scan(&detail)
		t.Fatalf("%d advisory locks left on the server after the workers stopped: %s", locks, detail)
	}
	kv, err := js.KeyValue(context.Background(), leases.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "every series lease released or expired", func() bool {
		keys, err := kv.ListKeys(context.Background())
		if err != nil {
			return false
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n == 0
	})
}
