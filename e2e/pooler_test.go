package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/testenv"
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
