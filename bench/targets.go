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
		// The latency is hidden when L = 20 ms runs nearly as fast as what
		// bounds it: the fetch slots (K x in-flight / L) or, once those are
		// many, what the fleet does with an instant source (L = 0).
		bound := float64(o.k*r.FetchConcurrency) / l20.Seconds()
		what := "the fetch bound K x in-flight / L"
		if l0, ok := find(r.Summaries, designMarketfleet, 0, o.bars); ok && l0.TasksPerSec < bound {
			bound, what = l0.TasksPerSec, "the L = 0 rate (below the fetch bound)"
		}
		add("L = 20 ms: ≥ 85% of min(fetch bound K x in-flight / L, the L = 0 rate)", mf.TasksPerSec >= 0.85*bound,
			"%.0f of %.0f tasks/s, %s (%.0f%%; in-flight = FLEET_FETCH_CONCURRENCY = %d; one fetch took %.1f ms on average)",
			mf.TasksPerSec, bound, what, 100*mf.TasksPerSec/bound, r.FetchConcurrency, float64(mf.FetchMean)/float64(time.Millisecond))
	}
	if mf, ok := find(r.Summaries, designMarketfleet, 0, o.bars); ok {
		ceil := min(r.Ceilings.JetStream, r.Ceilings.UpsertTasks)
		add("L = 0: marketfleet ≥ 50% of the lower ceiling", mf.TasksPerSec >= 0.5*ceil,
			"%.0f of %.0f tasks/s (%.0f%%)", mf.TasksPerSec, ceil, 100*mf.TasksPerSec/ceil)
	}
	if mf, ok := find(r.Summaries, designMarketfleet, 0, 1); ok {
		add(fmt.Sprintf("L = 0, 1 bar per task: ≥ 20,000 tasks/s at K = %d, sessions = K", o.k), mf.TasksPerSec >= 20000 && mf.PeakSessions == o.k,
			"%.0f tasks/s, peak %d sessions", mf.TasksPerSec, mf.PeakSessions)
	}
	riverTargets(r, o, add)
	durableTargets(r, o, add)
	sourceTargets(r, add)
	var rss int64
	idle := 0.0
	for _, s := range append(r.Summaries, r.Scaling...) {
		if s.Design == designMarketfleet {
			rss, idle = max(rss, s.PeakRSS), max(idle, s.IdleCPU)
		}
	}
	if rss > 0 {
		add("worker peak RSS ≤ 40 MB under load", rss <= 40<<20, "%.1f MB", float64(rss)/(1<<20))
		add("idle CPU of a worker with an empty queue ≈ 0", idle < 1, "%.2f%% of a core", idle)
	}
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

// riverTargets: marketfleet against the fastest River design of the run,
// with no more sessions than it.
func riverTargets(r report, o options, add func(string, bool, string, ...any)) {
	for _, t := range []struct {
		l    time.Duration
		bars int
		x    float64
	}{{0, 1, 3}, {20 * time.Millisecond, o.bars, 1.5}} {
		mf, ok := find(r.Summaries, designMarketfleet, t.l, t.bars)
		if !ok {
			continue
		}
		var best summary
		for _, d := range []string{designRiver, designRiverTuned} {
			if s, ok := find(r.Summaries, d, t.l, t.bars); ok && s.TasksPerSec > best.TasksPerSec {
				best = s
			}
		}
		if best.Design == "" {
			continue
		}
		x := mf.TasksPerSec / best.TasksPerSec
		add(fmt.Sprintf("L = %s, %d bars per task: marketfleet ≥ %.1fx River (its best design) with no more sessions", t.l, t.bars, t.x),
			x >= t.x && mf.PeakSessions <= best.PeakSessions,
			"%.2fx (%.0f against %s's %.0f tasks/s; sessions %d against %d)", x, mf.TasksPerSec, best.Design, best.TasksPerSec,
			mf.PeakSessions, best.PeakSessions)
	}
}

// durableTargets: at sync_interval: always, marketfleet against the
// JetStream ceilings measured under it.
func durableTargets(r report, o options, add func(string, bool, string, ...any)) {
	d := r.Durable
	if d == nil {
		return
	}
	for _, bars := range []int{1, o.bars} {
		mf, ok := find(d.Summaries, designMarketfleet, 0, bars)
		if !ok {
			continue
		}
		add(fmt.Sprintf("durable, L = 0, %d bars per task: marketfleet ≥ 80%% of the durable JetStream fetch+ack ceiling", bars),
			mf.TasksPerSec >= 0.8*d.JetStream,
			"%.0f of %.0f tasks/s (%.0f%%); of the ceiling with one-by-one publishing at once (%.0f tasks/s): %.0f%%",
			mf.TasksPerSec, d.JetStream, 100*mf.TasksPerSec/d.JetStream, d.JetStreamWithPublish, 100*mf.TasksPerSec/d.JetStreamWithPublish)
	}
	for _, c := range d.Fsyncs {
		if c.Of == designMarketfleet {
			add("durable: fsyncs per task counted ("+c.Phase+")", true, "%.2f per task", c.PerTask)
		}
	}
}

// sourceTargets: the rate the source saw, against the fleet's.
func sourceTargets(r report, add func(string, bool, string, ...any)) {
	for _, s := range r.Source {
		if s.K == 1 {
			add("source mode, K = 1: ≥ 95% of R sustained", s.Sustained >= 0.95*s.Rate,
				"%.1f of %.0f requests/s (%.0f%%)", s.Sustained, s.Rate, 100*s.Sustained/s.Rate)
		}
		add(fmt.Sprintf("source mode, K = %d: never above R + burst in any 1 s, every task stored", s.K),
			float64(s.Peak1s) <= s.Rate+float64(s.Burst) && s.Incomplete == 0,
			"peak %d (R + burst = %.0f), %.1f requests/s sustained, %d sessions, %d incomplete", s.Peak1s, s.Rate+float64(s.Burst),
			s.Sustained, s.PeakSessions, s.Incomplete)
	}
}
