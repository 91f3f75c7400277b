package main

import (
	"fmt"
	"time"
)

// find returns the summary of design at latency l with the standard
// workload, or false.
func find(ss []summary, design string, l time.Duration, bars int) (summary, bool) {
	for _, s := range ss {
		if s.Design == design && s.Latency == l && s.Bars == bars {
			return s, true
		}
	}
	return summary{}, false
}

// checkTargets holds the run against the targets of issue 6.
func checkTargets(r report, o options) []target {
	var ts []target
	add := func(claim string, pass bool, got string, args ...any) {
		ts = append(ts, target{Claim: claim, Pass: pass, Got: fmt.Sprintf(got, args...)})
	}
	const l20 = 20 * time.Millisecond
	if mf, ok := find(r.Summaries, designMarketfleet, l20, o.bars); ok {
		if p, ok := find(r.Summaries, designPooled, l20, o.bars); ok {
			x := mf.TasksPerSec / p.TasksPerSec
			add("L = 20 ms: marketfleet ≥ 1.8x pooled-concurrent", x >= 1.8, "%.2fx", x)
		}
		if s, ok := find(r.Summaries, designSequential, l20, o.bars); ok {
			x := mf.TasksPerSec / s.TasksPerSec
			add("L = 20 ms: marketfleet ≥ 8x sequential", x >= 8, "%.2fx", x)
		}
		add("L = 20 ms: peak sessions = K", mf.PeakSessions == o.k, "%d (K = %d)", mf.PeakSessions, o.k)
		add("L = 20 ms: zero connection errors", mf.ConnErrors == 0, "%d", mf.ConnErrors)
		bound := float64(o.k*r.FetchConcurrency) / l20.Seconds()
		add("L = 20 ms: ≥ 85% of the fetch bound K x in-flight / L", mf.TasksPerSec >= 0.85*bound,
			"%.0f of %.0f tasks/s (%.0f%%; in-flight = FLEET_FETCH_CONCURRENCY = %d; one fetch took %.1f ms on average)",
			mf.TasksPerSec, bound, 100*mf.TasksPerSec/bound, r.FetchConcurrency, float64(mf.FetchMean)/float64(time.Millisecond))
	}
	if mf, ok := find(r.Summaries, designMarketfleet, 0, o.bars); ok {
		ceil := min(r.Ceilings.JetStream, r.Ceilings.UpsertTasks)
		add("L = 0: marketfleet ≥ 50% of the lower ceiling", mf.TasksPerSec >= 0.5*ceil,
			"%.0f of %.0f tasks/s (%.0f%%)", mf.TasksPerSec, ceil, 100*mf.TasksPerSec/ceil)
	}
	if mf, ok := find(r.Summaries, designMarketfleet, 0, 1); ok {
		add("L = 0, 1 bar per task: ≥ 5,000 tasks/s at K = 4", mf.TasksPerSec >= 5000, "%.0f tasks/s", mf.TasksPerSec)
	}
	var rss int64
	idle := 0.0
	for _, s := range append(r.Summaries, r.Scaling...) {
		if s.Design == designMarketfleet {
			rss, idle = max(rss, s.PeakRSS), max(idle, s.IdleCPU)
		}
	}
	add("worker peak RSS ≤ 40 MB under load", rss <= 40<<20, "%.1f MB", float64(rss)/(1<<20))
	add("idle CPU of a worker with an empty queue ≈ 0", idle < 1, "%.2f%% of a core", idle)
	if len(r.Scaling) > 0 {
		ok, got := true, ""
		for i, s := range r.Scaling {
			ok = ok && s.PeakSessions == s.K
			got += fmt.Sprintf("K=%d: %.0f/s, peak %d, fetch %.1f ms; ", s.K, s.TasksPerSec, s.PeakSessions, float64(s.FetchMean)/float64(time.Millisecond))
			if i > 0 && s.K <= 4 && s.TasksPerSec < r.Scaling[i-1].TasksPerSec {
				ok = false
			}
		}
		add("scaling: tasks/s grows with K up to the cores, peak sessions = K", ok, "%s", got)
	}
	if len(r.Exhaustion) == 2 {
		p, m := r.Exhaustion[0], r.Exhaustion[1]
		add(fmt.Sprintf("max_connections = %d, K = %d: pooled-concurrent hits 53300, marketfleet completes every task without an error",
			r.ExhaustMaxConn, m.K), p.ConnErrors > 0 && m.ConnErrors == 0 && m.Incomplete == 0,
			"pooled %d connection errors; marketfleet %d errors, %d incomplete, peak %d sessions", p.ConnErrors, m.ConnErrors, m.Incomplete, m.PeakSessions)
	}
	return ts
}
