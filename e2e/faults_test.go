package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/testenv"
	"marketfleet/queue"
)

// quickRedelivery makes a killed worker's tasks come back in seconds.
const quickRedelivery = "FLEET_ACK_WAIT=2s"

func (e *env) countBars(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func consumerInfo(t *testing.T, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestKilledWorkerLosesNothing SIGKILLs a worker inside its batch
// transaction (after the upsert, before the commit) and, separately, after
// the commit but before the acks; another worker then drains the backlog.
func TestKilledWorkerLosesNothing(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"before-commit", "after-commit"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			js := e.js(t)
			specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("K", 25)...)
			stopSampling := e.sessionSampler(t)
			victim := e.startWorker(t, "victim", quickRedelivery, "MARKETFLEET_TEST_PAUSE="+point+":1h")
			victim.waitLog(t, "test pause point reached", 30*time.Second)
			committed := e.countBars(t)
			if point == "before-commit" && committed != 0 {
				t.Fatalf("%d bars visible before the commit", committed)
			}
			if point == "after-commit" && committed == 0 {
				t.Fatal("no bars visible after the commit: the pause is not after it")
			}
			if info := consumerInfo(t, js); info.NumAckPending == 0 {
				t.Fatal("nothing awaiting an ack at the pause point: the fault would not test anything")
			}
			if err := victim.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-victim.done
			rescuer := e.startWorker(t, "rescuer", quickRedelivery)
			waitDrained(t, js, 60*time.Second)
			if code, _ := rescuer.stop(t, 30*time.Second); code != 0 {
				t.Fatalf("rescuer exit %d", code)
			}
			e.check(t, specs, nil, stopSampling(), 2)
			if info := consumerInfo(t, js); info.NumRedelivered != 0 || info.NumAckPending != 0 {
				t.Fatalf("consumer after the rescue: %d redelivered, %d ack pending", info.NumRedelivered, info.NumAckPending)
			}
		})
	}
}

// TestSIGTERMMidBatchFinishesTheBatch signals a worker in the middle of its
// transaction: it commits, acks, exits 0 within the grace period, and leaves
// nothing pending.
func TestSIGTERMMidBatchFinishesTheBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("G", 30)...)
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "graceful", "MARKETFLEET_TEST_PAUSE=before-commit:2s", "FLEET_SHUTDOWN_GRACE=10s")
	w.waitLog(t, "test pause point reached", 30*time.Second)
	before := consumerInfo(t, js)
	code, took := w.stop(t, 15*time.Second)
	if code != 0 || took > 10*time.Second {
		t.Fatalf("exit %d after %s, want 0 within the 10s grace", code, took)
	}
	if before.NumAckPending == 0 || e.countBars(t) == 0 {
		t.Fatal("the signal did not land mid-batch")
	}
	if !strings.Contains(w.logs.String(), "shutting down") {
		t.Fatal("the worker did not log its shutdown")
	}
	// The stopped worker acked its batch and Nak'ed what its next pull had
	// delivered. Nak'ed tasks count as ack pending until redelivered, but
	// are redelivered at once: another worker drains everything well
	// within the 30 s AckWait, which tasks held by the stopped worker
	// would have to wait out.
	after := consumerInfo(t, js)
	t.Logf("after the stop: %d ack pending (returned unstarted), %d pending", after.NumAckPending, after.NumPending)
	rest := e.startWorker(t, "rest")
	waitDrained(t, js, 15*time.Second)
	rest.stop(t, 30*time.Second)
	e.check(t, specs, nil, stopSampling(), 1)
}

// TestSecondSignalForcesTheStop: a worker held inside its transaction
// (a pause that does not yield to shutdown) is asked to stop, then asked
// again: the second signal kills it at once, by that signal, and nothing
// it held is lost (the batch was never committed nor acknowledged).
func TestSecondSignalForcesTheStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("H", 5)...)
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "stubborn", "MARKETFLEET_TEST_PAUSE=before-commit:1h", "FLEET_ACK_WAIT=2s")
	w.waitLog(t, "test pause point reached", 30*time.Second)
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.waitLog(t, "shutting down", 10*time.Second)
	start := time.Now()
	if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("worker exited with %v, want killed by SIGINT", err)
		}
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("worker exit status %v, want killed by SIGINT", ee)
		}
		t.Logf("killed by %s %s after the second signal", ws.Signal(), time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not stop the worker")
	}
	if !strings.Contains(w.logs.String(), "second signal") {
		t.Fatal("the worker did not say why it stopped")
	}
	rest := e.startWorker(t, "rest", "FLEET_ACK_WAIT=2s") // the same consumer settings
	waitDrained(t, js, 30*time.Second)
	rest.stop(t, 30*time.Second)
	e.check(t, specs, nil, stopSampling(), 1)
}

// TestTerminatedBackendMidTransactionIsReplayed: pg_terminate_backend on
// the worker's session between upsert and commit; the worker dials a new
// session (new backend pid) and replays the batch.
func TestTerminatedBackendMidTransactionIsReplayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("P", 20)...)
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "terminated", "MARKETFLEET_TEST_PAUSE=before-commit:2s")
	w.waitLog(t, "test pause point reached", 30*time.Second)
	old := backendPID(t, e.admin, "terminated")
	if _, err := e.admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, js, 60*time.Second)
	w.waitLog(t, "reconnecting to replay the batch", 5*time.Second)
	if pid := backendPID(t, e.admin, "terminated"); pid == old {
		t.Fatalf("backend pid still %d", old)
	}
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	e.check(t, specs, nil, stopSampling(), 1)
	if info := consumerInfo(t, js); info.NumRedelivered != 0 {
		t.Fatalf("%d tasks redelivered: the batch should have been replayed in place", info.NumRedelivered)
	}
}

func backendPID(t *testing.T, admin *pgx.Conn, id string) uint32 {
	t.Helper()
	var pid uint32
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := admin.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`,
			"marketfleet-worker/"+id).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session of worker %s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionLimitMakesTheWorkerWaitWithoutFetching: the worker's role
// is at its CONNECTION LIMIT when the worker starts. It logs one clear line,
// takes no task while it has no session, and proceeds when a slot frees.
func TestConnectionLimitMakesTheWorkerWaitWithoutFetching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	ctx := context.Background()
	role := fmt.Sprintf("mf_limited_%d", time.Now().UnixNano()%1_000_000_000)
	dbName := e.admin.Config().Database
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN CONNECTION LIMIT 1`, role),
		fmt.Sprintf(`ALTER DATABASE %s OWNER TO %s`, pgx.Identifier{dbName}.Sanitize(), role),
	} {
		if _, err := e.admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c := testenv.Connect(t, testenv.AdminURL())
		_, _ = c.Exec(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{dbName}.Sanitize()))
		_, _ = c.Exec(context.Background(), `DROP ROLE IF EXISTS `+role)
	})
	u, err := url.Parse(e.dbURL)
	if err != nil || u.Scheme == "" {
		t.Fatalf("this test needs %s as a postgres:// URL", testenv.EnvAdminURL)
	}
	u.User = url.User(role)
	roleURL := u.String()
	holder := testenv.Connect(t, roleURL) // the role's only slot
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("L", 10)...)
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "limited", "DATABASE_URL="+roleURL)
	w.waitLog(t, "too many connections", 20*time.Second)
	time.Sleep(2 * time.Second) // several attempts
	// The worker binds to the consumer only once it has a session; if the
	// consumer exists already, nothing may have been delivered from it.
	if c, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer); err == nil {
		if info, err := c.Info(ctx); err != nil || info.Delivered.Consumer != 0 {
			t.Fatalf("the worker took tasks without a session: %+v, %v", info, err)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatal(err)
	}
	if n := strings.Count(w.logs.String(), `"level":"warn"`); n != 1 || strings.Contains(w.logs.String(), `"level":"error"`) {
		t.Fatalf("%d warnings while waiting for a slot, want exactly 1 and no error (the reason again at error level once a minute):\n%s", n, w.logs.String())
	}
	// fleetctl budget, refused the same way, names the cause.
	code, _, errOut := e.runCmd(t, []string{"DATABASE_URL=" + roleURL}, "fleetctl", "budget")
	if code != 1 || !strings.Contains(errOut, "too many connections") || !strings.Contains(errOut, "53300") {
		t.Fatalf("fleetctl budget with no slot left: exit %d, %s; want exit 1 naming 53300", code, errOut)
	}
	if strings.Contains(w.logs.String(), "password") || strings.Contains(w.logs.String(), roleURL) {
		t.Fatal("the log shows the connection string")
	}
	if err := holder.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, js, 60*time.Second)
	w.stop(t, 30*time.Second)
	e.check(t, specs, nil, stopSampling(), 1)
}

// TestDuplicatePublishInsideTheWindowIsOneTask; after the window the
// re-applied task leaves identical rows.
func TestDuplicatePublishInsideTheWindowIsOneTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	window := []string{"FLEET_DEDUP_WINDOW=2s", "FLEET_FEATURES=false"} // count collect tasks only
	args := []string{"enqueue", "--from", "2024-05-01", "--to", "2024-06-01", "DUP"}
	for i, want := range []string{"1 accepted, 0 duplicates", "0 accepted, 1 duplicates"} {
		if code, out, errOut := e.runCmd(t, window, "producer", args...); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("publish %d: exit %d, %q %q; want %q", i+1, code, out, errOut, want)
		}
	}
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "dedup", window...)
	waitDrained(t, js, 30*time.Second)
	first := checksum(t, e)
	time.Sleep(3 * time.Second) // past the duplicate window
	if code, out, _ := e.runCmd(t, window, "producer", args...); code != 0 || !strings.Contains(out, "1 accepted") {
		t.Fatalf("publish after the window: %q", out)
	}
	waitDrained(t, js, 30*time.Second)
	w.stop(t, 30*time.Second)
	s, _ := js.Stream(context.Background(), queue.DefaultStream)
	if si, _ := s.Info(context.Background()); si.State.LastSeq != 2 {
		t.Fatalf("stream took %d messages, want 2 (one per window)", si.State.LastSeq)
	}
	if again := checksum(t, e); again != first {
		t.Fatalf("re-applying the task changed the table: %s -> %s", first, again)
	}
	e.check(t, []spec{{"DUP", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}}, nil, stopSampling(), 1)
}

// TestTaskSlowerThanAckWaitIsDeliveredOnce: InProgress keeps a slow task
// with the worker that has it, though another worker is pulling.
func TestTaskSlowerThanAckWaitIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2024-01-01", "2024-01-31", "SLOW")
	stopSampling := e.sessionSampler(t)
	slow := []string{"FLEET_ACK_WAIT=2s", "FLEET_SYNTHETIC_LATENCY=5s", "FLEET_FEATURES=false"}
	a := e.startWorker(t, "slow-a", slow...)
	b := e.startWorker(t, "slow-b", slow...)
	waitDrained(t, js, 60*time.Second)
	a.stop(t, 30*time.Second)
	b.stop(t, 30*time.Second)
	if info := consumerInfo(t, js); info.NumRedelivered != 0 || info.Delivered.Consumer != 1 {
		t.Fatalf("delivered %d times (%d redelivered), want once", info.Delivered.Consumer, info.NumRedelivered)
	}
	e.check(t, specs, nil, stopSampling(), 2)
}
