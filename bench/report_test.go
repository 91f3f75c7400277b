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
			{Design: designRiverTuned, Latency: l20, Bars: 30, TasksPerSec: 1000, PeakSessions: 6},
			{Design: designRiver, Latency: 0, Bars: 1, TasksPerSec: 1000, PeakSessions: 5},
			{Design: designRiverTuned, Latency: 0, Bars: 1, TasksPerSec: 4000, PeakSessions: 6},
			{Design: designMarketfleet, Latency: 0, Bars: 1, TasksPerSec: 21000, PeakSessions: 4},
		},
		Durable: &durableReport{JetStream: 5000, Summaries: []summary{
			{Design: designMarketfleet, Latency: 0, Bars: 1, TasksPerSec: 4500},
			{Design: designMarketfleet, Latency: 0, Bars: 30, TasksPerSec: 2000},
		}},
		Source: []sourceRate{
			{K: 1, Rate: 50, Burst: 50, Sustained: 48, Peak1s: 90},
			{K: 4, Rate: 50, Burst: 50, Sustained: 50, Peak1s: 101},
		},
	}
	got := map[string]bool{}
	for _, tg := range checkTargets(r, o) {
		got[tg.Claim] = tg.Pass
	}
	want := map[string]bool{
		"L = 20 ms: marketfleet ≥ 1.8x pooled-concurrent": true, // 3.6x
		"L = 20 ms: marketfleet ≥ 8x sequential":          true, // 18x
		// 1800 of 400: the L = 0 rate is below the fetch bound (2000)
		"L = 20 ms: ≥ 85% of min(fetch bound K x in-flight / L, the L = 0 rate)": true,
		// 21000 against the best River's 4000, 4 sessions against 6
		"L = 0s, 1 bars per task: marketfleet ≥ 3.0x River (its best design) with no more sessions": true,
		// 1.8x, 4 sessions against 6
		"L = 20ms, 30 bars per task: marketfleet ≥ 1.5x River (its best design) with no more sessions": true,
		"L = 0, 1 bar per task: ≥ 20,000 tasks/s at K = 4, sessions = K":                               true,
		// 4500 and 2000 of 5000
		"durable, L = 0, 1 bars per task: marketfleet ≥ 80% of the durable JetStream fetch+ack ceiling":  true,
		"durable, L = 0, 30 bars per task: marketfleet ≥ 80% of the durable JetStream fetch+ack ceiling": false,
		"source mode, K = 1: ≥ 95% of R sustained":                                                       true, // 48 of 50
		"source mode, K = 1: never above R + burst in any 1 s, every task stored":                        true,
		"source mode, K = 4: never above R + burst in any 1 s, every task stored":                        false, // 101 > 100
		"L = 0: marketfleet ≥ 50% of the lower ceiling":                                                  false, // 400 of 1000
		"worker peak RSS ≤ 40 MB under load":                                                             true,
		"L = 20 ms: peak sessions = K":                                                                   true,
		"idle CPU of a worker with an empty queue ≈ 0":                                                   true,
		"L = 20 ms: zero connection errors":                                                              true,
	}
	for claim, pass := range want {
		if got[claim] != pass {
			t.Errorf("%s: pass = %v, want %v", claim, got[claim], pass)
		}
	}
}
