package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuUse is the CPU time (user + system) each part of the system spent
// during a run, from the start of the enqueue to the last ack: where the
// time of a task goes on this machine's cores.
type cpuUse struct {
	Tasks    int           `json:"tasks"`
	Wall     time.Duration `json:"wall_ns"`
	Workers  time.Duration `json:"workers_ns"` // every process of the design
	NATS     time.Duration `json:"nats_server_ns"`
	Postgres time.Duration `json:"postgres_ns"` // every postgres process of the machine
	Producer time.Duration `json:"producer_ns"`
}

// perTask is d per task, in microseconds.
func (c cpuUse) perTask(d time.Duration) float64 {
	return float64(d.Microseconds()) / float64(max(c.Tasks, 1))
}

// cpuSnapshot is the CPU time so far of the design's processes, the
// nats-server and PostgreSQL.
type cpuSnapshot struct{ workers, nats, postgres time.Duration }

func (e *env) cpuSnapshot(procs []*proc) cpuSnapshot {
	var s cpuSnapshot
	for _, p := range procs {
		s.workers += cpuTimeOf(p.cmd.Process.Pid)
	}
	if e.natsCmd != nil {
		pid := e.natsCmd.Process.Pid
		if e.natsFsyncs != "" {
			pid = childPID(pid)
		}
		s.nats = cpuTimeOf(pid)
	}
	s.postgres = postgresCPU()
	return s
}

// since is the CPU time spent between two snapshots.
func (s cpuSnapshot) since(before cpuSnapshot) cpuUse {
	return cpuUse{Workers: s.workers - before.workers, NATS: s.nats - before.nats, Postgres: s.postgres - before.postgres}
}

// postgresCPU is the CPU time so far of every live postgres process of
// the machine (the server and its backends; a backend that exited since
// the last snapshot is not counted, so sessions must outlive the run).
func postgresCPU() time.Duration {
	var total time.Duration
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			total += cpuTimeOf(pid)
		}
	}
	return total
}

// cpuTimeOf is process pid's user + system CPU time so far, all threads.
func cpuTimeOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// profile is a CPU profile taken during a run, summarized.
type profile struct {
	Of   string   `json:"of"` // worker-0, nats-server
	File string   `json:"file"`
	Top  []string `json:"top"` // go tool pprof -top, the heaviest functions
}

// takeProfiles fetches CPU profiles of the first worker and of the
// nats-server over the same `over`, starting after `after`, and
// summarizes them. Failures are returned, not fatal to the run.
func (e *env) takeProfiles(ctx context.Context, procs []*proc, after, over time.Duration, dir string) ([]profile, error) {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	targets := []struct{ of, addr string }{{"worker-0", procs[0].metrics}, {"nats-server", e.natsProf}}
	type got struct {
		p   profile
		err error
	}
	ch := make(chan got, len(targets))
	for _, t := range targets {
		go func() {
			file := filepath.Join(dir, t.of+".pprof")
			err := fetchProfile(ctx, t.addr, over, file)
			ch <- got{profile{Of: t.of, File: file}, err}
		}()
	}
	var out []profile
	for range targets {
		g := <-ch
		if g.err != nil {
			return nil, fmt.Errorf("profile of %s: %w", g.p.Of, g.err)
		}
		top, err := pprofTop(ctx, g.p.File, 12)
		if err != nil {
			return nil, err
		}
		g.p.Top = top
		out = append(out, g.p)
	}
	return out, nil
}

func fetchProfile(ctx context.Context, addr string, over time.Duration, file string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(over.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop is the n heaviest functions of a CPU profile by their own
// (flat) time, as go tool pprof -top prints them.
func pprofTop(ctx context.Context, file string, n int) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-flat", fmt.Sprintf("-nodecount=%d", n), file).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w", file, err)
	}
	var top []string
	started := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(line, "flat%"):
			started = true
		case started && strings.TrimSpace(line) != "":
			top = append(top, strings.Join(strings.Fields(line), " "))
		case !started && strings.HasPrefix(strings.TrimSpace(line), "Showing nodes"):
			top = append(top, strings.TrimSpace(line))
		}
	}
	return top, nil
}
