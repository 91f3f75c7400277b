package main

import (
	"strings"
	"testing"
	"time"
)

func TestCommandHidesTheDatabaseURL(t *testing.T) {
	for _, args := range [][]string{
		{"--admin-url", "postgres://u:secret@db/x", "-runs", "1"},
		{"-admin-url=postgres://u:secret@db/x", "-runs", "1"},
	} {
		got := command(args)
		if strings.Contains(got, "secret") || got != "make bench -runs 1" {
			t.Errorf("command(%q) = %q", args, got)
		}
	}
}

func TestSummarizeTakesTheMedianAndTheWorst(t *testing.T) {
	rs := []runResult{
		{Design: "marketfleet", K: 4, Tasks: 10, Completed: 10, TasksPerSec: 100, P50: 3 * time.Millisecond, PeakSessions: 4, PeakRSS: 10},
		{Design: "marketfleet", K: 4, Tasks: 10, Completed: 9, TasksPerSec: 300, P50: 1 * time.Millisecond, PeakSessions: 5, PeakRSS: 30, ConnErrors: 2},
		{Design: "marketfleet", K: 4, Tasks: 10, Completed: 10, TasksPerSec: 200, P50: 2 * time.Millisecond, PeakSessions: 4, PeakRSS: 20},
	}
	s := summarize(rs)
	if s.TasksPerSec != 200 || s.TasksMin != 100 || s.TasksMax != 300 || s.P50 != 2*time.Millisecond {
		t.Fatalf("medians: %+v", s)
	}
	if s.PeakSessions != 5 || s.PeakRSS != 30 || s.ConnErrors != 2 || s.Incomplete != 1 {
		t.Fatalf("worst cases: %+v", s)
	}
}

func TestTargets(t *testing.T) {
	o := options{k: 4, bars: 30}
	l20 := 20 * time.Millisecond
	r := report{
		FetchConcurrency: 10,
		Ceilings:         ceilings{JetStream: 10000, UpsertTasks: 1000},
		Summaries: []summary{
			{Design: designPooled, Latency: l20, Bars: 30, TasksPerSec: 500},
			{Design: designSequential, Latency: l20, Bars: 30, TasksPerSec: 100},
			{Design: designMarketfleet, Latency: l20, Bars: 30, TasksPerSec: 1800, PeakSessions: 4, PeakRSS: 20 << 20},
			{Design: designMarketfleet, Latency: 0, Bars: 30, TasksPerSec: 400, PeakSessions: 4},
		},
	}
	got := map[string]bool{}
	for _, tg := range checkTargets(r, o) {
		got[tg.Claim] = tg.Pass
	}
	want := map[string]bool{
		"L = 20 ms: marketfleet ≥ 1.8x pooled-concurrent":       true,  // 3.6x
		"L = 20 ms: marketfleet ≥ 8x sequential":                true,  // 18x
		"L = 20 ms: ≥ 85% of the fetch bound K x in-flight / L": true,  // 1800 of 2000
		"L = 0: marketfleet ≥ 50% of the lower ceiling":         false, // 400 of 1000
		"worker peak RSS ≤ 40 MB under load":                    true,
		"L = 20 ms: peak sessions = K":                          true,
		"idle CPU of a worker with an empty queue ≈ 0":          true,
		"L = 20 ms: zero connection errors":                     true,
	}
	for claim, pass := range want {
		if got[claim] != pass {
			t.Errorf("%s: pass = %v, want %v", claim, got[claim], pass)
		}
	}
}
