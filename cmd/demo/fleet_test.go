package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script writes an executable shell script with body and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-worker")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Workers that stop on SIGTERM are stopped cleanly, their process waiters
// with them; one that exits early is reported as such.
func TestStartAndStopWorkers(t *testing.T) {
	bin := script(t, `trap 'exit 0' TERM; touch "$(dirname "$0")/$FLEET_WORKER_ID.ready"; while :; do sleep 0.05; done`)
	ps, err := startWorkers(2, bin, "nats://127.0.0.1:1", "postgres://x@127.0.0.1:1/x", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Both have set their trap (the demo names them demo-1, demo-2).
	for _, id := range []string{"demo-1", "demo-2"} {
		deadline := time.Now().Add(10 * time.Second)
		for _, err := os.Stat(filepath.Join(filepath.Dir(bin), id+".ready")); err != nil; _, err = os.Stat(filepath.Join(filepath.Dir(bin), id+".ready")) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never started", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := exited(ps); err != nil {
		t.Fatalf("exited = %v while both run", err)
	}
	if err := stopWorkers(ps, 10*time.Second); err != nil {
		t.Fatalf("stopWorkers = %v, want nil", err)
	}

	ps, err = startWorkers(1, script(t, `exit 3`), "nats://127.0.0.1:1", "postgres://x@127.0.0.1:1/x", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for exited(ps) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := exited(ps); err == nil || !strings.Contains(err.Error(), "exited early") {
		t.Fatalf("exited = %v, want the early exit reported", err)
	}
	if err := stopWorkers(ps, time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("stopWorkers = %v, want the exit status", err)
	}
}
