package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/sampler"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/source"
	"marketfleet/source/synthetic/synthetictest"
	"marketfleet/store"
	"marketfleet/tasks"
)

const (
	testTasks = 50
	testBars  = 30 // daily bars per task
)

// binDir holds the binary built for the tests; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "baseline-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

// bin is the baseline binary, built once per test process.
var bin = sync.OnceValues(func() (string, error) {
	path := filepath.Join(binDir, "baseline")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

func TestDesignsWriteTheWorkersBars(t *testing.T) {
	for _, tc := range []struct {
		design   string
		env      []string
		sessions int // most sessions the design may open
	}{
		{designPooled, []string{"BASELINE_POOL=2", "BASELINE_INFLIGHT=4", "BASELINE_LATENCY=5ms"}, 2},
		{designSequential, []string{"BASELINE_LATENCY=1ms"}, 1},
	} {
		t.Run(tc.design, func(t *testing.T) {
			s := setup(t)
			app := "bench-test-" + tc.design
			peak := s.watchSessions(t, app)
			p := s.start(t, append(tc.env, "BASELINE_DESIGN="+tc.design, "BASELINE_APP="+app)...)
			s.waitEmpty(t, p)
			st := p.stop(t)
			if st.Design != tc.design || st.TasksOK != testTasks || st.Bars != testTasks*testBars {
				t.Fatalf("stats: design %q, %d tasks ok, %d bars; want %q, %d, %d",
					st.Design, st.TasksOK, st.Bars, tc.design, testTasks, testTasks*testBars)
			}
			if len(st.DBErrors) != 0 || st.ConnectErrors != 0 || st.Naks != 0 {
				t.Fatalf("stats: db errors %v, connect errors %d, naks %d; want none", st.DBErrors, st.ConnectErrors, st.Naks)
			}
			if st.Started.IsZero() || st.Stopped.Before(st.Started) {
				t.Fatalf("stats: started %s, stopped %s", st.Started, st.Stopped)
			}
			if got := peak(); got < 1 || got > tc.sessions {
				t.Fatalf("peak sessions named %s: %d, want 1..%d", app, got, tc.sessions)
			}
			s.checkBars(t, s.dbURL)
		})
	}
}

// TestPooledCountsTooManyConnections gives the pooled design a role allowed
// one connection: the pool's other attempts fail with 53300, are counted,
// and their tasks are nak'ed and done later.
func TestPooledCountsTooManyConnections(t *testing.T) {
	s := setup(t)
	roleURL := s.limitedRole(t, 1)
	p := s.start(t, "BASELINE_DESIGN=pooled", "BASELINE_POOL=4", "BASELINE_INFLIGHT=8",
		"BASELINE_LATENCY=2ms", "BASELINE_MAX_DELIVER=10000", "DATABASE_URL="+roleURL)
	s.waitEmpty(t, p)
	st := p.stop(t)
	if st.TasksOK != testTasks {
		t.Fatalf("stats: %d tasks ok, want %d", st.TasksOK, testTasks)
	}
	if st.DBErrors["53300"] == 0 || st.ConnectErrors < st.DBErrors["53300"] || st.Naks < st.DBErrors["53300"] {
		t.Fatalf("stats: db errors %v, connect errors %d, naks %d: want 53300 refusals, each a connect error and a nak",
			st.DBErrors, st.ConnectErrors, st.Naks)
	}
	t.Logf("53300 refusals: %d, naks %d", st.DBErrors["53300"], st.Naks)
	s.checkBars(t, s.dbURL)
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"NATS_URL": "nats://x", "DATABASE_URL": "postgres://x", "BASELINE_DESIGN": "pooled"}
	for name, val := range map[string]string{
		"BASELINE_DESIGN": "batched", "BASELINE_POOL": "0", "BASELINE_INFLIGHT": "x",
		"BASELINE_LATENCY": "5", "BASELINE_MAX_DELIVER": "-1", "NATS_URL": "",
	} {
		env := map[string]string{name: val}
		_, err := loadConfig(func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return base[k]
		})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(name)) {
			t.Errorf("%s=%q: error %v, want one naming %s", name, val, err, name)
		}
	}
	c, err := loadConfig(func(k string) string { return base[k] })
	if err != nil || c.Pool != 4 || c.Inflight != 8 || c.MaxDeliver != 10 || c.Latency != 0 || c.App != "bench-pooled" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

// env is one test's services: a JetStream server holding the published
// tasks and a migrated database.
type env struct {
	natsURL string
	js      jetstream.JetStream
	dbURL   string
	tasks   []tasks.Task
}

func setup(t *testing.T) *env {
	t.Helper()
	n := testenv.NATS(t)
	_, js := n.Connect(t)
	s := &env{natsURL: n.URL(), js: js, dbURL: testenv.NewDatabase(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := store.Open(ctx, s.dbURL, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range testTasks {
		s.tasks = append(s.tasks, tasks.NewCollect(fmt.Sprintf("T%02d", i), market.Interval1d,
			from, from.AddDate(0, 0, testBars), "baseline-test", time.Now()))
	}
	if res, err := queue.NewPublisher(js, "").Publish(ctx, s.tasks); err != nil || res.Accepted != testTasks {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	return s
}

// proc is a running baseline.
type proc struct {
	cmd   *exec.Cmd
	out   *bytes.Buffer
	stats string
	done  chan error
}

func (s *env) start(t *testing.T, env ...string) *proc {
	t.Helper()
	path, err := bin()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(path), out: &bytes.Buffer{}, stats: filepath.Join(t.TempDir(), "stats.json"),
		done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "NATS_URL="+s.natsURL, "DATABASE_URL="+s.dbURL, "BASELINE_STATS="+p.stats)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM, expects exit 0 and returns the stats file.
func (p *proc) stop(t *testing.T) statsFile {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("baseline exited with %v:\n%s", err, p.out)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("baseline still running 15s after SIGTERM:\n%s", p.out)
	}
	b, err := os.ReadFile(p.stats)
	if err != nil {
		t.Fatal(err)
	}
	var st statsFile
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("stats file: %v\n%s", err, b)
	}
	return st
}

// waitEmpty waits until the task stream holds no message: every task acked.
func (s *env) waitEmpty(t *testing.T, p *proc) {
	t.Helper()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks left after 20s; baseline output:\n%s", info.State.Msgs, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchSessions samples the sessions named app until the test ends and
// returns a function reporting the most seen at once.
func (s *env) watchSessions(t *testing.T, app string) func() int {
	conn := testenv.Connect(t, s.dbURL)
	smp := sampler.New(2*time.Millisecond, func(ctx context.Context) (int, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		return n, err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = smp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() int { return smp.Stats().Peak }
}

// checkBars compares the bars table with what the synthetic source gives
// for every task: same rows, same values, nothing else.
func (s *env) checkBars(t *testing.T, dbURL string) {
	t.Helper()
	reqs := make([]source.Request, len(s.tasks))
	for i, task := range s.tasks {
		reqs[i] = source.Request{Symbol: task.Symbol, Interval: task.Interval, From: task.From, To: task.To}
	}
	synthetictest.MatchesTable(t, testenv.Connect(t, dbURL), reqs)
}

// limitedRole creates a login role allowed n connections, with the rights
// the upsert needs on bars, and returns the database URL for it.
func (s *env) limitedRole(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	role := fmt.Sprintf("baseline_test_%d", time.Now().UnixNano())
	admin := testenv.Connect(t, testenv.AdminURL())
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", role, n)); err != nil {
		t.Fatal(err)
	}
	db := testenv.Connect(t, s.dbURL)
	if _, err := db.Exec(ctx, "GRANT SELECT, INSERT, UPDATE ON bars TO "+role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = admin.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	u, err := url.Parse(s.dbURL)
	if err != nil {
		t.Fatalf("this test needs a postgres:// URL: %v", err)
	}
	u.User = url.User(role)
	return u.String()
}
