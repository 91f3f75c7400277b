package e2e

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/queue"
)

// TestWorkerHelpListsEveryVariable checks `worker --help` against the
// variables the worker actually reads.
func TestWorkerHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, out, _ := e.runCmd(t, nil, "worker", "--help")
	if code != 0 {
		t.Fatalf("worker --help exit %d", code)
	}
	for _, v := range []string{"NATS_URL", "DATABASE_URL", "FLEET_WORKER_ID", "FLEET_BATCH_SIZE", "FLEET_FETCH_CONCURRENCY",
		"FLEET_FETCH_WAIT", "FLEET_SOURCE", "FLEET_YAHOO_URL", "FLEET_METRICS_ADDR", "FLEET_ACK_WAIT", "FLEET_MAX_DELIVER",
		"FLEET_MAX_ACK_PENDING", "FLEET_SHUTDOWN_GRACE", "FLEET_STREAM", "FLEET_CONSUMER", "FLEET_DEDUP_WINDOW"} {
		if !regexp.MustCompile(`(?m)^` + v + `\s`).MatchString(out) {
			t.Errorf("worker --help does not list %s", v)
		}
	}
	if !regexp.MustCompile(`(?m)^FLEET_BATCH_SIZE\s+50\s`).MatchString(out) {
		t.Errorf("worker --help does not show the batch size default:\n%s", out)
	}
	// The README's configuration table documents every variable.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^((?:FLEET|NATS|DATABASE)_[A-Z_]+)\s`).FindAllStringSubmatch(out, -1) {
		if !strings.Contains(string(readme), "| `"+m[1]+"` |") {
			t.Errorf("README.md's configuration table lacks %s", m[1])
		}
	}
}

// TestInvalidConfigurationIsOneClearLine: exit 2, one line naming the
// variable, and never a password.
func TestInvalidConfigurationIsOneClearLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"FLEET_BATCH_SIZE=ten"}, "FLEET_BATCH_SIZE"},
		{[]string{"FLEET_BATCH_SIZE=0"}, "FLEET_BATCH_SIZE"},
		{[]string{"FLEET_SOURCE=bloomberg"}, "FLEET_SOURCE"},
		{[]string{"FLEET_ACK_WAIT=soon"}, "FLEET_ACK_WAIT"},
		{[]string{"FLEET_WORKER_ID=has space"}, "FLEET_WORKER_ID"},
		{[]string{"FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL=not a url"}, "FLEET_YAHOO_URL"},
		{[]string{"FLEET_LOG_LEVEL=loud"}, "FLEET_LOG_LEVEL"},
		{[]string{"FLEET_NATS_USER=worker"}, "FLEET_NATS_PASSWORD"},
		{[]string{"FLEET_NATS_USER=worker", "FLEET_NATS_PASSWORD=canary-s3cret", "FLEET_NATS_TOKEN=canary-t0ken"}, "at most one"},
		// Before connecting to anything (NATS is not even listening here),
		// never quoting the URL.
		{[]string{"DATABASE_URL=garbage-canary", "NATS_URL=nats://127.0.0.1:1"}, "DATABASE_URL: invalid PostgreSQL connection string"},
		{[]string{"DATABASE_URL=postgres://u:canary@127.0.0.1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "NATS_URL=nats://127.0.0.1:1"},
			"DATABASE_URL: a file named in the PostgreSQL connection string cannot be read: open /nonexistent/ca.pem: no such file or directory"},
	} {
		code, out, errOut := e.runCmd(t, tc.env, "worker")
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(errOut, tc.want) || out != "" || strings.Contains(errOut, "canary") {
			t.Errorf("worker with %v: exit %d, stderr %q; want exit 2 and one line naming %s", tc.env, code, errOut, tc.want)
		}
	}
}

func TestDatabasePasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const canary = "pw-canary-31337"
	for _, dbURL := range []string{
		"postgres://fleet:" + canary + "@127.0.0.1:notaport/x",                            // unparseable
		"postgres://fleet:" + canary + "@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", // refused
	} {
		w := e.startWorker(t, "canary", "DATABASE_URL="+dbURL)
		time.Sleep(1500 * time.Millisecond)
		w.stop(t, 10*time.Second)
		if logs := w.logs.String(); strings.Contains(logs, canary) || logs == "" {
			t.Fatalf("worker output with a bad DATABASE_URL (%d bytes) leaks the password or says nothing:\n%s", len(logs), logs)
		}
	}
}

func TestProducerReportsAcceptedAndDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	args := []string{"enqueue", "--interval", "1d", "--range", "1mo", "AAPL", "brk-b", "^GSPC", "EURUSD=X", "7203.T"}
	code, out, errOut := e.runCmd(t, nil, "producer", args...)
	if code != 0 || strings.TrimSpace(out) != "enqueued 5 tasks: 5 accepted, 0 duplicates" {
		t.Fatalf("first enqueue: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = e.runCmd(t, nil, "producer", args...)
	if code != 0 || strings.TrimSpace(out) != "enqueued 5 tasks: 0 accepted, 5 duplicates (already published within FLEET_DEDUP_WINDOW; --force collects them again)" {
		t.Fatalf("second enqueue: exit %d, %q", code, out)
	}
}

// Within the dedup window, enqueue --force and backfill --force publish the
// same windows again as forced tasks, and a worker collects them again.
func TestForcedEnqueueCollectsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.startWorker(t, "forced", "FLEET_FEATURES=false")
	defer w.stop(t, 10*time.Second)
	args := []string{"enqueue", "--interval", "1d", "--from", "2024-01-01", "--to", "2024-02-01", "FA", "FB"}
	for i, want := range []string{
		"enqueued 2 tasks: 2 accepted, 0 duplicates",
		"enqueued 2 tasks: 0 accepted, 2 duplicates (already published within FLEET_DEDUP_WINDOW; --force collects them again)",
	} {
		if code, out, errOut := e.runCmd(t, nil, "producer", args...); code != 0 || strings.TrimSpace(out) != want {
			t.Fatalf("enqueue %d: exit %d, %q %q; want %q", i+1, code, out, errOut, want)
		}
	}
	if code, out, errOut := e.runCmd(t, nil, "producer", append([]string{args[0], "--force"}, args[1:]...)...); code != 0 ||
		strings.TrimSpace(out) != "enqueued 2 tasks: 2 accepted (2 forced), 0 duplicates" {
		t.Fatalf("forced enqueue: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := e.runCmd(t, nil, "producer", "backfill", "--force", "--interval", "1d", "--from", "2024-01-01", "--to", "2024-02-01", "FA"); code != 0 ||
		!strings.Contains(out, "1 accepted (1 forced), 0 duplicates") {
		t.Fatalf("forced backfill: exit %d, %q %q", code, out, errOut)
	}
	js := e.js(t)
	testenv.Eventually(t, 30*time.Second, "the worker to collect all 5 tasks, the 3 forced included", func() bool {
		s, err := js.Stream(context.Background(), queue.DefaultStream)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.LastSeq == 5 && info.State.Msgs == 0
	})
}

func TestProducerRejectsBadInputBeforePublishing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{
		{"enqueue", "AAPL", "NOT A SYMBOL"},
		{"enqueue", "--interval", "2d", "AAPL"},
		{"enqueue", "--range", "1mo", "--from", "2024-01-01", "AAPL"},
		{"enqueue", "--interval", "1m", "--range", "1y", "AAPL"}, // 525,600 bars in one task
		{"enqueue"},
		{"frobnicate"},
	} {
		code, out, errOut := e.runCmd(t, nil, "producer", args...)
		if code != 2 || out != "" || errOut == "" {
			t.Errorf("producer %v: exit %d, stdout %q, stderr %q; want exit 2 with an error", args, code, out, errOut)
		}
	}
}

// TestIdleWorkerStopsPromptlyOnSIGTERM: exit 0, session closed.
func TestIdleWorkerStopsPromptlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.startWorker(t, "idle-1")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(w.logs.String(), "worker running") {
		if time.Now().After(deadline) {
			t.Fatalf("worker never started:\n%s", w.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, took := w.stop(t, 10*time.Second)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	// Nothing to finish: the open pull (200ms) ends and the reaper's pull is
	// cancelled. A few seconds would mean something waits out a timer.
	if took > 4*time.Second {
		t.Fatalf("an idle worker took %s to stop", took)
	}
	var n int
	if err := e.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'marketfleet-worker/idle-1'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d sessions left after exit", n)
	}
	for _, want := range []string{"shutting down", "worker stopped", "postgres session closed"} {
		if !strings.Contains(w.logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	t.Logf("idle worker stopped %s after SIGTERM", took)
}

// `worker migrate` is a one-shot job: on a database that does not exist or
// a role the server refuses it gives up after FLEET_MIGRATE_TIMEOUT, names
// the reason, and exits 1; it does not retry forever.
func TestOneShotMigrateGivesUpWithTheReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, err := url.Parse(e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	noDB, noRole := *u, *u
	noDB.Path = "/mf_no_such_database"
	noRole.User = url.User("mf_no_such_role")
	for _, tc := range []struct{ dbURL, want string }{
		{noDB.String(), "the database does not exist"},
		{noRole.String(), "authentication failed"},
	} {
		start := time.Now()
		code, _, errOut := e.runCmd(t, []string{"DATABASE_URL=" + tc.dbURL, "FLEET_MIGRATE_TIMEOUT=3s"}, "worker", "migrate")
		took := time.Since(start)
		last := strings.TrimSpace(errOut)
		last = last[strings.LastIndex(last, "\n")+1:]
		if code != 1 || took > 30*time.Second || !strings.Contains(last, "gave up after 3s (FLEET_MIGRATE_TIMEOUT)") || !strings.Contains(last, tc.want) {
			t.Errorf("worker migrate on %s: exit %d after %s, last line %q; want exit 1 within seconds, naming %q", tc.want, code, took, last, tc.want)
		}
		if !strings.Contains(errOut, `"level":"error"`) {
			t.Errorf("worker migrate on %s: the refusal was not logged at error level:\n%s", tc.want, errOut)
		}
	}
}

// A producer started with other stream settings does not shrink the shared
// stream: it warns, naming both values; `fleetctl stream apply` is the one
// way to change it.
func TestProducerNeverReconfiguresTheStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--range", "5d", "AAPL"); code != 0 {
		t.Fatalf("first enqueue: exit %d, %s %s", code, out, errOut)
	}
	maxBytes := func() int64 {
		s, err := e.js(t).Stream(context.Background(), queue.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.MaxBytes
	}
	small := []string{"FLEET_STREAM_MAX_BYTES=1048576"}
	code, _, errOut := e.runCmd(t, small, "producer", "enqueue", "--range", "5d", "MSFT")
	if code != 0 || maxBytes() != 1<<30 {
		t.Fatalf("enqueue with FLEET_STREAM_MAX_BYTES=1048576: exit %d, stream max_bytes %d; want the stream left at 1 GiB\n%s", code, maxBytes(), errOut)
	}
	if !strings.Contains(errOut, `"level":"warn"`) || !strings.Contains(errOut, "max_bytes: the stream has 1073741824, this process wants 1048576") {
		t.Fatalf("no warning naming both values:\n%s", errOut)
	}
	code, out, errOut := e.runCmd(t, small, "fleetctl", "stream", "apply", "--dry-run")
	if code != 0 || maxBytes() != 1<<30 || !strings.Contains(out, "max_bytes: the stream has 1073741824, this process wants 1048576: would be applied (--dry-run)") {
		t.Fatalf("fleetctl stream apply --dry-run: exit %d, stream max_bytes %d\n%s%s", code, maxBytes(), out, errOut)
	}
	code, out, errOut = e.runCmd(t, small, "fleetctl", "stream", "apply")
	if code != 0 || maxBytes() != 1<<20 || !strings.Contains(out, "MARKETFLEET_TASKS max_bytes: the stream has 1073741824, this process wants 1048576: applied") {
		t.Fatalf("fleetctl stream apply: exit %d, stream max_bytes %d\n%s%s", code, maxBytes(), out, errOut)
	}
}
