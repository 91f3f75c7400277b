package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/queue"
	"marketfleet/store"
)

// env is the services and binaries every run shares: one nats-server
// process, one PostgreSQL server, the binaries built for this benchmark.
type env struct {
	dir      string // scratch: binaries, nats store, universes, stats
	adminURL string
	natsURL  string
	natsCmd  *exec.Cmd
	nc       *nats.Conn
	js       jetstream.JetStream
	// durable is whether the nats-server runs with sync_interval: always.
	durable bool
	// natsProf is the host:port of the nats-server's /debug/pprof/.
	natsProf string
	// natsFsyncs is the strace log of the nats-server's fsyncs, when it
	// runs under strace (countFsyncs), else "".
	natsFsyncs string
}

// newEnv builds the binaries (without the race detector) and starts a
// nats-server from the pinned module with file storage and the server's
// default fsync interval (the durable mode restarts it with
// sync_interval: always, what production runs).
func newEnv(ctx context.Context, adminURL string, river bool) (*env, error) {
	dir, err := os.MkdirTemp("", "marketfleet-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, adminURL: adminURL}
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator),
		"./cmd/worker", "./cmd/producer", "./bench/baseline", "github.com/nats-io/nats-server/v2")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build the binaries (run from the repository root): %w", err)
	}
	if river {
		if err := buildRiver(ctx, dir); err != nil {
			return nil, err
		}
	}
	if err := e.startNATS(ctx, false, ""); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startNATS starts a nats-server on an empty store: with durable, with
// sync_interval: always (every write fsynced before it is acknowledged);
// with straceLog, under strace, which logs every fsync and fdatasync it
// makes, with the file synced, to that file (countFsyncs).
func (e *env) startNATS(ctx context.Context, durable bool, straceLog string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	prof, err := freePort()
	if err != nil {
		return err
	}
	store := filepath.Join(e.dir, "nats")
	if err := os.RemoveAll(store); err != nil {
		return err
	}
	sync := ""
	if durable {
		sync = "  sync_interval: always\n"
	}
	conf := filepath.Join(e.dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nprof_port: %d\njetstream {\n  store_dir: %q\n  max_file_store: 4GB\n%s}\n",
		port, prof, store, sync)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	server := filepath.Join(e.dir, "nats-server")
	if straceLog != "" {
		e.natsCmd = exec.Command("strace", "-f", "-qq", "-y", "--seccomp-bpf", "-e", "trace=fsync,fdatasync",
			"-o", straceLog, server, "-c", conf)
	} else {
		e.natsCmd = exec.Command(server, "-c", conf)
	}
	// A process group of its own: stopNATS signals the group, so that a
	// server under strace goes with it (strace alone would detach from it).
	e.natsCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.natsCmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	e.durable, e.natsFsyncs = durable, straceLog
	e.natsProf = fmt.Sprintf("127.0.0.1:%d", prof)
	e.natsURL = "nats://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(e.natsURL)
		if err == nil {
			e.nc = nc
			e.js, err = jetstream.New(nc)
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nats-server did not come up: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) close() {
	e.stopNATS()
	_ = os.RemoveAll(e.dir)
}

// stopNATS stops the nats-server and closes the harness's connection.
func (e *env) stopNATS() {
	if e.nc != nil {
		e.nc.Close()
		e.nc, e.js = nil, nil
	}
	if e.natsCmd != nil && e.natsCmd.Process != nil {
		group := -e.natsCmd.Process.Pid // the server, and strace if it runs under it
		_ = syscall.Kill(group, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = e.natsCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(group, syscall.SIGKILL)
			<-done
		}
		e.natsCmd = nil
	}
}

// restartNATS replaces the nats-server by one on an empty store with the
// durability and tracing asked for (startNATS).
func (e *env) restartNATS(ctx context.Context, durable bool, straceLog string) error {
	e.stopNATS()
	return e.startNATS(ctx, durable, straceLog)
}

// resetNATS deletes everything a run leaves in JetStream (the task stream
// and its consumers, the dead letters, the fleet's KV buckets), so each run
// starts from nothing.
func (e *env) resetNATS(ctx context.Context) error {
	names := e.js.StreamNames(ctx)
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list streams: %w", err)
	}
	for _, n := range all {
		if err := e.js.DeleteStream(ctx, n); err != nil {
			return fmt.Errorf("delete stream %s: %w", n, err)
		}
	}
	return nil
}

// freshDatabase creates an empty, migrated database and returns its URL
// and a drop function.
func (e *env) freshDatabase(ctx context.Context, name string) (string, func(), error) {
	admin, err := store.Open(ctx, e.adminURL, store.Config{ApplicationName: "marketfleet-bench"})
	if err != nil {
		return "", nil, err
	}
	defer admin.Close(context.Background())
	if _, err := admin.EnsureDatabase(ctx, name); err != nil {
		return "", nil, err
	}
	dbURL, err := store.WithDatabase(e.adminURL, name)
	if err != nil {
		return "", nil, err
	}
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: "marketfleet-bench"})
	if err != nil {
		return "", nil, err
	}
	defer db.Close(context.Background())
	if _, err := db.Migrate(ctx); err != nil {
		return "", nil, err
	}
	drop := func() {
		a, err := store.Open(context.Background(), e.adminURL, store.Config{ApplicationName: "marketfleet-bench"})
		if err != nil {
			return
		}
		defer a.Close(context.Background())
		_ = a.DropDatabase(context.Background(), name)
	}
	return dbURL, drop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// workerSetting is the value of the worker's integer setting name in this
// run: from extra (NAME=value pairs) if set there, else the default that
// the built worker's --help prints.
func (e *env) workerSetting(ctx context.Context, name string, extra []string) (int, error) {
	for _, kv := range extra {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("%s=%q: want an integer", name, v)
			}
			return n, nil
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(e.dir, "worker"), "--help").Output()
	if err != nil {
		return 0, fmt.Errorf("worker --help: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("worker --help does not list %s", name)
}

// childPID is the first child of process pid (strace's tracee), or pid
// when it has none.
func childPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		if c, err := strconv.Atoi(f[0]); err == nil {
			return c
		}
	}
	return pid
}

// streamConfig is the task stream as the fleet should run it on this
// server: atomic batches (one fsync per batch) where the server syncs
// every write, none where it does not (there they only cost CPU).
func (e *env) streamConfig() queue.StreamConfig {
	return queue.StreamConfig{SkipBatches: !e.durable}
}

// batchesEnv is streamConfig for the fleet's processes.
func (e *env) batchesEnv() string {
	return "FLEET_STREAM_BATCHES=" + strconv.FormatBool(e.durable)
}
