package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/testenv"
	"marketfleet/queue"
)

// barsNow counts bars on a fresh connection (the server may have restarted).
func (e *env) barsNow(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, e.dbURL)
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, `SELECT count(*) FROM bars`).Scan(&n)
			_ = conn.Close(context.Background())
			if err == nil {
				return n
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("count bars: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitProgress waits until at least n bars are stored.
func (e *env) waitProgress(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for e.barsNow(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d bars after 60s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive fails the test if a worker exited on its own.
func (w *worker) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err
		t.Fatalf("worker %s exited during the fault: %v", w.id, err)
	default:
	}
}

// TestPostgresRestartsUnderLoad restarts PostgreSQL (fast, then immediate:
// crash recovery) while two workers drain a backlog. The workers never
// exit, and every task is applied.
func TestPostgresRestartsUnderLoad(t *testing.T) {
	t.Parallel()
	pg := testenv.NewScratchPostgres(t)
	n := testenv.NATS(t)
	e := newEnvWith(t, n.URL(), pg.URL(), n)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("PR", 300)...)
	stopSampling := e.sessionSampler(t)
	slow := []string{"FLEET_SYNTHETIC_LATENCY=100ms", "FLEET_BATCH_SIZE=5"}
	workers := []*worker{e.startWorker(t, "pr-1", slow...), e.startWorker(t, "pr-2", slow...)}
	e.waitProgress(t, 30*20)
	pg.Restart("fast")
	e.waitProgress(t, 30*100)
	pg.Restart("immediate")
	waitDrained(t, js, 120*time.Second)
	reconnects := 0
	for _, w := range workers {
		w.alive(t)
		reconnects += strings.Count(w.logs.String(), "postgres session opened") - 1
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
	}
	if reconnects < 2 {
		t.Fatalf("%d reconnects in all: the restarts did not reach the workers", reconnects)
	}
	e.admin = testenv.Connect(t, e.dbURL)
	e.check(t, specs, nil, stopSampling(), 2)
}

// underLoad runs two workers (with extra settings) while 300 tasks are
// published one by one, calls fault once 900 bars are stored, waits until
// every task is done and checks the promise. It returns the workers' logs.
func (e *env) underLoad(t *testing.T, prefix string, extra []string, fault func(js jetstream.JetStream)) string {
	t.Helper()
	js := e.js(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{Replicas: replicas(extra)}); err != nil {
		t.Fatal(err)
	}
	stopSampling := e.sessionSampler(t)
	env := append([]string{"FLEET_SYNTHETIC_LATENCY=20ms", "FLEET_ACK_WAIT=3s"}, extra...)
	workers := []*worker{e.startWorker(t, prefix+"-1", env...), e.startWorker(t, prefix+"-2", env...)}
	published := publishLoad(t, js, strings.ToUpper(prefix), 300, 5*time.Millisecond)
	e.waitProgress(t, 30*30)
	fault(js)
	specs := <-published
	waitDrained(t, js, 120*time.Second)
	logs := ""
	for _, w := range workers {
		w.alive(t)
		logs += w.logs.String()
		w.stop(t, 30*time.Second)
	}
	if len(specs) != 300 {
		t.Fatalf("%d tasks accepted, want 300", len(specs))
	}
	e.check(t, specs, nil, stopSampling(), 2)
	return logs
}

// replicas reads FLEET_STREAM_REPLICAS from worker settings (default 1).
func replicas(env []string) int {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "FLEET_STREAM_REPLICAS="); ok && v == "3" {
			return 3
		}
	}
	return 1
}

// TestNATSServerRestartUnderLoad restarts the (in-process) nats-server on
// the same store while tasks are being published and consumed.
func TestNATSServerRestartUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logs := e.underLoad(t, "nr", nil, func(jetstream.JetStream) { e.nats.Restart() })
	if strings.Count(logs, "nats reconnected") < 2 {
		t.Errorf("the workers did not both reconnect: the restart did not reach them")
	}
}

// TestNATSServerSIGKILLLosesNoAcceptedTask SIGKILLs a real nats-server
// process (built from the pinned module, sync_interval: always) under load,
// starts it again on the same store, and checks every accepted task.
func TestNATSServerSIGKILLLosesNoAcceptedTask(t *testing.T) {
	t.Parallel()
	proc := testenv.StartNATSProcess(t, natsBin)
	e := newEnvWith(t, proc.URL(), testenv.NewDatabase(t), nil)
	logs := e.underLoad(t, "nk", nil, func(jetstream.JetStream) {
		proc.Kill()
		time.Sleep(500 * time.Millisecond)
		proc.Start()
	})
	if strings.Count(logs, "nats reconnected") < 2 {
		t.Errorf("the workers did not both reconnect: the kill did not reach them")
	}
}

// TestClusterLeaderLossUnderLoad runs the fleet on a 3-node JetStream
// cluster with R3 streams and shuts down the task stream's leader under
// load: workers carry on, nothing accepted is lost.
func TestClusterLeaderLossUnderLoad(t *testing.T) {
	t.Parallel()
	c := testenv.NewNATSCluster(t, 3)
	e := newEnvWith(t, c.URLs(), testenv.NewDatabase(t), nil)
	var leader string
	var js jetstream.JetStream
	e.underLoad(t, "cl", []string{"FLEET_STREAM_REPLICAS=3"}, func(j jetstream.JetStream) {
		js = j
		leader = c.StreamLeader(t, js, queue.DefaultStream)
		c.Shutdown(leader)
	})
	if now := c.StreamLeader(t, js, queue.DefaultStream); now == leader {
		t.Fatalf("stream leader still %s", leader)
	}
}
