package main

import (
	"os"
	"path/filepath"
	"testing"
)

// An strace -y log is counted by the file synced, from a line on; a call
// split by another thread's line (unfinished, then resumed) counts once.
func TestFsyncLogCountsByFileFromALine(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "nats")
	log := filepath.Join(dir, "strace.log")
	lines := "" +
		"101 fsync(9<" + store + "/jetstream/$G/streams/MARKETFLEET_TASKS/msgs/1.blk>) = 0\n" +
		"101 fsync(9<" + store + "/jetstream/$G/streams/MARKETFLEET_TASKS/msgs/1.blk> <unfinished ...>\n" +
		"102 fdatasync(12<" + store + "/jetstream/$G/streams/KV_MARKETFLEET_SLOTS/msgs/1.blk>) = 0\n" +
		"101 <... fsync resumed>) = 0\n" +
		"103 fsync(14<" + store + "/jetstream/$G/streams/MARKETFLEET_TASKS/obs/marketfleet-workers/o.dat>) = 0\n"
	if err := os.WriteFile(log, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, natsFsyncs: log}
	n, by, err := e.fsyncLog(0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"MARKETFLEET_TASKS messages": 2, "KV_MARKETFLEET_SLOTS messages": 1, "MARKETFLEET_TASKS consumer state": 1}
	if n != 5 || len(by) != len(want) {
		t.Fatalf("fsyncLog(0) = %d lines, %v; want 5 lines, %v", n, by, want)
	}
	for k, v := range want {
		if by[k] != v {
			t.Errorf("%s: %d fsyncs, want %d", k, by[k], v)
		}
	}
	if _, by, _ := e.fsyncLog(3); by["MARKETFLEET_TASKS messages"] != 0 || by["MARKETFLEET_TASKS consumer state"] != 1 {
		t.Errorf("fsyncLog(3) = %v: want only what follows line 3", by)
	}
}
