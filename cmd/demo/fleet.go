package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is one worker process of the demo fleet.
type proc struct {
	id   string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// startWorkers starts n real worker binaries with their logs in logDir.
func startWorkers(n int, bin, natsURL, dbURL, logDir string) ([]*proc, error) {
	var ps []*proc
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("demo-%d", i)
		f, err := os.Create(filepath.Join(logDir, id+".log"))
		if err != nil {
			stopWorkers(ps, time.Second)
			return nil, err
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "DATABASE_URL="+dbURL,
			"FLEET_WORKER_ID="+id, "FLEET_LOG_FORMAT=json", "FLEET_SOURCE=synthetic")
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			stopWorkers(ps, time.Second)
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		p := &proc{id: id, cmd: cmd, log: f, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		ps = append(ps, p)
	}
	return ps, nil
}

// stopWorkers sends SIGTERM to every worker and waits up to timeout for each
// to exit; it returns an error naming each worker that did not exit 0.
func stopWorkers(ps []*proc, timeout time.Duration) error {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	deadline := time.After(timeout)
	for _, p := range ps {
		select {
		case err := <-p.done:
			if err != nil {
				errs = append(errs, fmt.Errorf("worker %s: %v (log: %s)", p.id, err, p.log.Name()))
			}
		case <-deadline:
			_ = p.cmd.Process.Kill()
			errs = append(errs, fmt.Errorf("worker %s did not stop within %s", p.id, timeout))
		}
		p.log.Close()
	}
	return errors.Join(errs...)
}

// exited reports a worker that stopped on its own, if any.
func exited(ps []*proc) error {
	for _, p := range ps {
		select {
		case err := <-p.done:
			p.done <- err // keep it for stopWorkers
			return fmt.Errorf("worker %s exited early (%v); see %s", p.id, err, p.log.Name())
		default:
		}
	}
	return nil
}
