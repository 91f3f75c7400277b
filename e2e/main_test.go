package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/sampler"
	"marketfleet/internal/testenv"
)

// binDir holds the worker, producer and fleetctl built for this run, and
// natsBin the nats-server built from the pinned module (for tests that
// SIGKILL a real server process). The stock nats CLI is built there too
// (natsCLI), for the on-demand requests users send with it.
var binDir, natsBin string

// natsCLIVersion is the natscli release the tests use; the Makefile's
// nats-cli target builds the same one.
const natsCLIVersion = "v0.5.0"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "marketfleet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// The binaries carry the race detector too: a race in the worker fails
	// its process, and the test with it.
	build := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "../cmd/worker", "../cmd/producer", "../cmd/fleetctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries failed:", err)
		os.Exit(1)
	}
	if natsBin, err = testenv.BuildNATSServer(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	cli := exec.Command("go", "install", "github.com/nats-io/natscli/nats@"+natsCLIVersion)
	cli.Env = append(os.Environ(), "GOBIN="+dir)
	cli.Stdout, cli.Stderr = os.Stderr, os.Stderr
	if err := cli.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the nats CLI failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a test's services: a JetStream server (or cluster) and a database.
type env struct {
	natsURL string
	nats    *testenv.NATSServer // the in-process server, when the test uses one
	dbURL   string
	admin   *pgx.Conn
	// natsAuth authenticates the test's own NATS clients (js), when the
	// server requires it.
	natsAuth []nats.Option
}

// newEnv gives a test an in-process JetStream server and a fresh database.
func newEnv(t *testing.T) *env {
	t.Helper()
	n := testenv.NATS(t)
	return newEnvWith(t, n.URL(), testenv.NewDatabase(t), n)
}

// newEnvWith uses the given servers.
func newEnvWith(t *testing.T, natsURL, dbURL string, n *testenv.NATSServer) *env {
	t.Helper()
	return &env{natsURL: natsURL, nats: n, dbURL: dbURL, admin: testenv.Connect(t, dbURL)}
}

// js returns a JetStream client of the test's server(s), closed at cleanup.
func (e *env) js(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(e.natsURL, append(e.natsAuth, nats.Name("marketfleet-e2e"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))...)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (e *env) baseEnv() []string {
	return append(os.Environ(), "NATS_URL="+e.natsURL, "DATABASE_URL="+e.dbURL, "FLEET_LOG_FORMAT=json")
}

// runCmd runs a binary to completion and returns its exit code and output.
func (e *env) runCmd(t *testing.T, extraEnv []string, name string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(e.baseEnv(), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return 0, out.String(), errb.String()
}

// worker is a running worker process.
type worker struct {
	id   string
	cmd  *exec.Cmd
	logs *testenv.Buffer
	done chan error
}

func (e *env) startWorker(t *testing.T, id string, extraEnv ...string) *worker {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "worker"))
	cmd.Env = append(e.baseEnv(), append([]string{"FLEET_WORKER_ID=" + id, "FLEET_FETCH_WAIT=200ms"}, extraEnv...)...)
	w := &worker{id: id, cmd: cmd, logs: &testenv.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("worker %s log:\n%s", id, w.logs.String())
		}
	})
	return w
}

// stop sends SIGTERM (unless the worker already exited) and waits for the
// exit status.
func (w *worker) stop(t *testing.T, within time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal worker %s: %v", w.id, err)
	}
	select {
	case err := <-w.done:
		w.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), time.Since(start)
		}
		if err != nil {
			t.Fatalf("worker %s: %v", w.id, err)
		}
		return 0, time.Since(start)
	case <-time.After(within):
		t.Fatalf("worker %s did not exit within %s of SIGTERM", w.id, within)
	}
	return -1, 0
}

// sessionSampler polls pg_stat_activity every 20ms for the fleet's sessions
// in this test's database, on its own connection, which it re-dials when a
// fault (a server restart) cost it.
func (e *env) sessionSampler(t *testing.T) (stop func() sampler.Stats) {
	t.Helper()
	return e.sampleQuery(t, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE 'marketfleet-worker/%'`)
}

// sampleQuery samples a count query every 20ms.
func (e *env) sampleQuery(t *testing.T, query string) (stop func() sampler.Stats) {
	t.Helper()
	var conn *pgx.Conn
	s := sampler.New(20*time.Millisecond, func(ctx context.Context) (int, error) {
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, e.dbURL)
			if err != nil {
				return 0, err
			}
			conn = c
		}
		var n int
		err := conn.QueryRow(ctx, query).Scan(&n)
		return n, err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	var once sync.Once
	stop = func() sampler.Stats {
		once.Do(func() {
			cancel()
			<-done
			if conn != nil {
				_ = conn.Close(context.Background())
			}
		})
		return s.Stats()
	}
	t.Cleanup(func() { stop() })
	return stop
}

func writeUniverse(t *testing.T, symbols []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "universe.txt")
	if err := os.WriteFile(path, []byte(strings.Join(symbols, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
