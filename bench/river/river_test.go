package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/sampler"
	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/synthetic/synthetictest"
	"marketfleet/store"
)

const (
	testJobs = 200
	testBars = 30 // daily bars per job
)

var testFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// The worker, in process (so that -race covers it and River), works 200
// jobs of 30 bars: the bars table then holds exactly the synthetic
// source's 6,000 bars, every job is completed, and the pool's sessions
// (plus River's LISTEN connection, taken out of it) never exceed the pool.
func TestWorkWritesEveryJobsBars(t *testing.T) {
	dbURL := freshDatabase(t)
	ctx := context.Background()
	if _, err := migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	again, err := migrate(ctx, dbURL)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate: applied %v, %v; want nothing", again, err)
	}
	const pool, app = 3, "bench-river-test/0"
	peak := watchSessions(t, dbURL, app)
	wctx, stop := context.WithCancel(ctx)
	ready := newLineWaiter()
	done := make(chan error, 1)
	go func() {
		done <- work(wctx, workConfig{DatabaseURL: dbURL, App: app, Pool: pool, MaxWorkers: 20,
			FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, Latency: time.Millisecond},
			ready, testLogger(t))
	}()
	t.Cleanup(func() { stop() })
	select {
	case <-ready.seen("ready"):
	case err := <-done:
		t.Fatalf("work returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("work not ready after 30s")
	}
	n, err := insert(ctx, dbURL, insertParams{N: testJobs, Bars: testBars, Chunk: 64, From: testFrom, Interval: market.Interval1d}, testLogger(t))
	if err != nil || n != testJobs {
		t.Fatalf("insert: %d jobs, %v; want %d", n, err, testJobs)
	}
	waitDrained(t, dbURL, 60*time.Second)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("work: %v", err)
		}
	case <-time.After(stopTimeout + 5*time.Second):
		t.Fatal("work still running after the stop timeout")
	}
	checkBars(t, dbURL, testJobs, testBars)
	checkJobsCompleted(t, dbURL, testJobs)
	if got := peak(); got < 1 || got > pool+1 {
		t.Fatalf("peak sessions named %s: %d, want 1..%d (the pool and River's LISTEN connection)", app, got, pool+1)
	}
	t.Logf("peak sessions: %d (pool %d)", peak(), pool)
}

// The built binary's commands: migrate, insert, then work, which says
// "ready", names its sessions RIVER_APP, works the jobs and exits 0 on
// SIGTERM.
func TestBinaryMigratesInsertsAndWorks(t *testing.T) {
	bin := buildBinary(t)
	dbURL := freshDatabase(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL)
	for _, args := range [][]string{
		{"migrate"},
		{"insert", "-n", "20", "-bars", "5", "-from", testFrom.Format(time.DateOnly), "-chunk", "7"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("river-bench %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("river-bench %s: %s", args[0], strings.TrimSpace(string(out)))
	}
	const app = "bench-river/7"
	peak := watchSessions(t, dbURL, app)
	cmd := exec.Command(bin, "work")
	cmd.Env = append(env, "RIVER_APP="+app, "RIVER_POOL=2", "RIVER_MAX_WORKERS=4",
		"RIVER_FETCH_COOLDOWN=10ms", "RIVER_FETCH_POLL_INTERVAL=100ms", "RIVER_LATENCY=2ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := newLineWaiter()
	go func() {
		_, _ = io.Copy(ready, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-ready.seen("ready"):
	case err := <-exited:
		t.Fatalf("work exited before ready: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("work not ready after 30s\n%s", stderr)
	}
	waitDrained(t, dbURL, 30*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("work exited with %v after SIGTERM\n%s", err, stderr)
		}
	case <-time.After(stopTimeout + 5*time.Second):
		t.Fatalf("work still running after SIGTERM\n%s", stderr)
	}
	checkBars(t, dbURL, 20, 5)
	checkJobsCompleted(t, dbURL, 20)
	if got := peak(); got < 1 || got > 3 {
		t.Fatalf("peak sessions named %s: %d, want 1..3", app, got)
	}
}

func TestWorkConfig(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x"}
	for name, val := range map[string]string{
		"RIVER_POOL": "0", "RIVER_MAX_WORKERS": "0", "RIVER_FETCH_COOLDOWN": "5",
		"RIVER_FETCH_POLL_INTERVAL": "-1s", "RIVER_LATENCY": "x", "DATABASE_URL": "",
	} {
		env := map[string]string{name: val}
		_, err := loadWorkConfig(func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return base[k]
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: error %v, want one naming %s", name, val, err, name)
		}
	}
	c, err := loadWorkConfig(func(k string) string { return base[k] })
	if err != nil || c.Pool != 0 || c.MaxWorkers != defaultMaxWorkers || c.FetchCooldown != 0 ||
		c.FetchPollInterval != 0 || c.Latency != 0 || c.App != "bench-river" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

func TestInsertParamsJobs(t *testing.T) {
	p := insertParams{N: 3, Bars: 30, Chunk: 1000, From: testFrom, Interval: market.Interval1d}
	jobs := p.jobs(1, 3)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}
	want := collectArgs{Symbol: "B00002", Interval: market.Interval1d, From: testFrom, To: testFrom.AddDate(0, 0, 30)}
	if got := jobs[1].Args.(collectArgs); got != want {
		t.Fatalf("job 2: %+v, want %+v", got, want)
	}
	for _, bad := range []insertParams{
		{N: 0, Bars: 1, Chunk: 1, Interval: market.Interval1d},
		{N: 1, Bars: 0, Chunk: 1, Interval: market.Interval1d},
		{N: 1, Bars: 1, Chunk: 0, Interval: market.Interval1d},
		{N: 1, Bars: 1, Chunk: 1, Interval: "2d"},
	} {
		if bad.validate() == nil {
			t.Errorf("%+v: valid, want an error", bad)
		}
	}
}

// freshDatabase creates a database migrated by marketfleet on the server
// of MARKETFLEET_TEST_DATABASE_URL, dropped when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	adminURL := os.Getenv("MARKETFLEET_TEST_DATABASE_URL")
	if adminURL == "" {
		t.Fatal("MARKETFLEET_TEST_DATABASE_URL is not set: this test needs PostgreSQL " +
			"(export MARKETFLEET_TEST_DATABASE_URL=$(scripts/postgres.sh up) from the repository root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := store.Config{ApplicationName: "bench-river-test-admin"}
	admin, err := store.Open(ctx, adminURL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("bench_river_test_%d", time.Now().UnixNano())
	if _, err := admin.EnsureDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := store.Open(context.Background(), adminURL, cfg)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer a.Close(context.Background())
		if err := a.DropDatabase(context.Background(), name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	dbURL, err := store.WithDatabase(adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dbURL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return dbURL
}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// drainedQuery is true when no job is waiting, running or to be retried:
// the same query as the harness's riverDrained.
const drainedQuery = `SELECT NOT EXISTS (SELECT 1 FROM river_job
	WHERE state NOT IN ('completed', 'discarded', 'cancelled'))`

// waitDrained polls until every job is finalized.
func waitDrained(t *testing.T, dbURL string, within time.Duration) {
	t.Helper()
	conn := connect(t, dbURL)
	deadline := time.Now().Add(within)
	for {
		var done bool
		if err := conn.QueryRow(context.Background(), drainedQuery).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finalized after %s: states %v", within, jobStates(t, conn))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jobStates(t *testing.T, conn *pgx.Conn) map[string]int {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT state::text, count(*) FROM river_job GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	var state string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { states[state] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return states
}

// checkJobsCompleted checks that river_job holds n jobs, all completed.
func checkJobsCompleted(t *testing.T, dbURL string, n int) {
	t.Helper()
	if got := jobStates(t, connect(t, dbURL)); len(got) != 1 || got["completed"] != n {
		t.Fatalf("river_job states %v, want %d completed", got, n)
	}
}

// checkBars compares the bars table with what the synthetic source gives
// for jobs B00000.. of bars daily bars from testFrom: same rows, same
// values, nothing else.
func checkBars(t *testing.T, dbURL string, jobs, bars int) {
	t.Helper()
	reqs := make([]source.Request, jobs)
	for i := range reqs {
		reqs[i] = source.Request{Symbol: fmt.Sprintf("B%05d", i), Interval: market.Interval1d, From: testFrom, To: testFrom.AddDate(0, 0, bars)}
	}
	synthetictest.MatchesTable(t, connect(t, dbURL), reqs)
}

// watchSessions samples the sessions named app until the test ends and
// returns a function reporting the most seen at once.
func watchSessions(t *testing.T, dbURL, app string) func() int {
	conn := connect(t, dbURL)
	s := sampler.New(2*time.Millisecond, func(ctx context.Context) (int, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		return n, err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() int { return s.Stats().Peak }
}

// buildBinary builds river-bench into a directory removed after the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "river-bench")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

func testLogger(t *testing.T) *slog.Logger { return newLogger(tWriter{t}) }

// tWriter sends River's log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// lineWaiter is an io.Writer that tells when a line was written.
type lineWaiter struct {
	mu    sync.Mutex
	buf   []byte
	lines map[string]chan struct{}
}

func newLineWaiter() *lineWaiter { return &lineWaiter{lines: map[string]chan struct{}{}} }

// seen returns a channel closed once the line has been written.
func (w *lineWaiter) seen(line string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.chanLocked(line)
}

func (w *lineWaiter) chanLocked(line string) chan struct{} {
	c, ok := w.lines[line]
	if !ok {
		c = make(chan struct{})
		w.lines[line] = c
	}
	return c
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := strings.Cut(string(w.buf), "\n")
		if !ok {
			return len(p), nil
		}
		w.buf = []byte(rest)
		c := w.chanLocked(line)
		select {
		case <-c:
		default:
			close(c)
		}
	}
}

// lockedBuffer is a strings.Builder safe for a process's output and the
// test reading it (testenv.Buffer's twin: this module does not import
// internal/testenv, which would bring the nats-server into it).
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
