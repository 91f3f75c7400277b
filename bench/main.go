package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	adminURL       string
	n, bars        int
	k              int
	latencies      []time.Duration
	runs           int
	designs        []string
	pool           int
	inflight       int
	scaling        []int
	oneBarN        int
	jsonPath       string
	mdPath         string
	workerEnv      []string // extra worker settings, for trying knobs
	exhaustMaxConn int      // exhaustion mode: max_connections of the scratch cluster, 0 to skip
	exhaustK       int
	// restatementOnly measures the restatement cost alone, and prints it.
	restatementOnly bool
	// auditOnly measures the audit alone, and prints it.
	auditOnly bool
	// modes are the benchmark's modes to run, in order (modeThroughput,
	// modeDurable, modeSource).
	modes []string
	// river are the River settings raced in the throughput mode.
	river []riverSettings
	// profile takes CPU profiles of a worker and the nats-server during a
	// one-bar run at K and summarizes them.
	profile bool
	// The source mode: a fake Yahoo with this latency (± jitter), the
	// fleet's rate and burst, the replica counts and the tasks per run.
	sourceLatency, sourceJitter time.Duration
	sourceRate                  float64
	sourceBurst                 int
	sourceK                     []int
	sourceN                     int
	// costs measures the restatement and audit costs in the throughput mode.
	costs bool
	// durableN is the one-bar tasks of the durable mode's fsync count.
	durableN int
}

// The modes of the benchmark. Each can run alone (-modes, or -durable).
const (
	// modeThroughput races the designs (River included) at the default
	// fsync interval of the nats-server, with the ceilings, the scaling
	// series, the exhaustion mode and the restatement and audit costs.
	modeThroughput = "throughput"
	// modeDurable runs the designs again on a nats-server with
	// sync_interval: always, measures its ceiling, and counts the fsyncs
	// per task.
	modeDurable = "durable"
	// modeSource measures the fleet against a fake Yahoo with a realistic
	// latency at a fleet-wide rate: the rate the source sees.
	modeSource = "source"
)

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := benchmark(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	var lat, designs, scaling, workerEnv, modes, sourceK string
	var durable bool
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.adminURL, "admin-url", os.Getenv("MARKETFLEET_BENCH_DATABASE_URL"), "PostgreSQL superuser URL (make bench passes scripts/postgres.sh's)")
	fs.IntVar(&o.n, "n", 2000, "tasks (symbols) per run")
	fs.IntVar(&o.bars, "bars", 30, "bars per task")
	fs.IntVar(&o.k, "k", 4, "processes (replicas) per design")
	fs.StringVar(&lat, "latency", "0s,20ms", "simulated fetch latencies, comma-separated")
	fs.IntVar(&o.runs, "runs", 3, "runs per design and latency (the median is reported)")
	fs.StringVar(&designs, "designs", "pooled,sequential,river,river-tuned,marketfleet", "designs to run")
	fs.IntVar(&o.pool, "pool", 3, "pooled: connections per process")
	fs.IntVar(&o.inflight, "inflight", 10, "pooled: tasks in flight per process")
	fs.StringVar(&scaling, "scaling", "1,2,4,8", "marketfleet replica counts for the scaling series at the largest latency (empty: none)")
	fs.IntVar(&o.oneBarN, "one-bar", 20000, "tasks of the 1-bar-per-task run at latency 0 (0: none)")
	fs.StringVar(&o.jsonPath, "json", "bench/results.json", "where to write the JSON results")
	fs.StringVar(&o.mdPath, "md", "", "where to write the Markdown report (default: stdout only)")
	fs.IntVar(&o.exhaustMaxConn, "exhaustion", 20, "exhaustion mode: run pooled and marketfleet on a scratch cluster with this max_connections (0: skip)")
	fs.IntVar(&o.exhaustK, "exhaustion-k", 8, "exhaustion mode: processes per design")
	fs.BoolVar(&o.restatementOnly, "restatement-only", false, "measure only what restating one series costs (10y of 1d, 1y of 1m), print it and write nothing")
	fs.BoolVar(&o.auditOnly, "audit-only", false, "measure only what auditing 500 symbols x 10 years of daily bars costs, print it and write nothing")
	fs.StringVar(&modes, "modes", "throughput,durable,source", "modes to run: throughput (the designs, River included, the ceilings, scaling, exhaustion), durable (sync_interval: always, fsyncs per task), source (a fake Yahoo at 200 ms, the fleet's rate as the source counts it)")
	fs.BoolVar(&durable, "durable", false, "run the durable mode alone (same as -modes durable)")
	fs.BoolVar(&o.costs, "costs", true, "throughput mode: also measure the restatement and audit costs")
	fs.BoolVar(&o.profile, "profile", true, "throughput mode: take CPU profiles of a worker and the nats-server during a 1-bar run and summarize them")
	fs.DurationVar(&o.sourceLatency, "source-latency", 200*time.Millisecond, "source mode: the fake Yahoo's latency per request")
	fs.DurationVar(&o.sourceJitter, "source-jitter", 50*time.Millisecond, "source mode: up to this much more or less latency, uniformly")
	fs.Float64Var(&o.sourceRate, "source-rate", 50, "source mode: FLEET_SOURCE_RATE, requests per second for the whole fleet")
	fs.IntVar(&o.sourceBurst, "source-burst", 0, "source mode: FLEET_SOURCE_BURST (0: the worker's default, the rate rounded up)")
	fs.StringVar(&sourceK, "source-k", "1,2,4", "source mode: replica counts")
	fs.IntVar(&o.sourceN, "source-n", 1500, "source mode: tasks per run (1,500 at 50/s: 30 s)")
	fs.IntVar(&o.durableN, "durable-n", 2000, "durable mode: one-bar tasks of the run whose fsyncs are counted")
	fs.StringVar(&workerEnv, "worker-env", "", "extra worker settings for trying knobs, e.g. FLEET_BATCH_SIZE=20,FLEET_FETCH_CONCURRENCY=20")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.adminURL == "" {
		return o, fmt.Errorf("--admin-url (or MARKETFLEET_BENCH_DATABASE_URL) is required; make bench sets it")
	}
	for _, s := range strings.Split(lat, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 {
			return o, fmt.Errorf("--latency %q: want durations such as 0s,20ms", s)
		}
		o.latencies = append(o.latencies, d)
	}
	for _, d := range strings.Split(designs, ",") {
		switch d = strings.TrimSpace(d); d {
		case designPooled, designSequential, designMarketfleet, designRiver, designRiverTuned:
			o.designs = append(o.designs, d)
		default:
			return o, fmt.Errorf("--designs: unknown design %q", d)
		}
	}
	var err error
	if o.scaling, err = replicaCounts("--scaling", scaling); err != nil {
		return o, err
	}
	if o.sourceK, err = replicaCounts("--source-k", sourceK); err != nil {
		return o, err
	}
	if durable {
		modes = modeDurable
	}
	for _, m := range strings.Split(modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case modeThroughput, modeDurable, modeSource:
			o.modes = append(o.modes, m)
		case "":
		default:
			return o, fmt.Errorf("--modes: unknown mode %q: want throughput, durable or source", m)
		}
	}
	o.river = defaultRiverSettings(o.k)
	for _, kv := range strings.Split(workerEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !(strings.HasPrefix(kv, "FLEET_") || strings.HasPrefix(kv, "GO")) || !strings.Contains(kv, "=") {
				return o, fmt.Errorf("--worker-env %q: want FLEET_NAME=value (or Go runtime GONAME=value) pairs", kv)
			}
			o.workerEnv = append(o.workerEnv, kv)
		}
	}
	if o.n < 1 || o.bars < 1 || o.k < 1 || o.runs < 1 || o.pool < 1 || o.inflight < 1 || o.sourceN < 1 || o.durableN < 1 {
		return o, fmt.Errorf("-n, -bars, -k, -runs, -pool, -inflight, -source-n and -durable-n must be at least 1")
	}
	if o.sourceRate <= 0 || o.sourceLatency < 0 || o.sourceJitter < 0 || o.sourceJitter > o.sourceLatency || o.sourceBurst < 0 {
		return o, fmt.Errorf("-source-rate must be > 0, -source-burst >= 0, and 0 <= -source-jitter <= -source-latency")
	}
	return o, nil
}

// River's designs: its defaults, and settings tuned for this workload.
const (
	designRiver      = "river"
	designRiverTuned = "river-tuned"
)

// defaultRiverSettings are the River clients raced: one process each
// (River's unit of scale is one client with many workers). "river" is
// River as a new user starts it: the defaults (FetchCooldown 100 ms,
// FetchPollInterval 1 s) with the MaxWorkers of River's examples, 100, and
// a pool of K connections, as marketfleet's K workers hold K sessions.
// "river-tuned" is the fastest of the settings tried on this machine
// (bench/river/doc.go): pool 5, MaxWorkers 400, FetchCooldown 10 ms,
// FetchPollInterval 50 ms. A River process holds its pool plus the LISTEN
// connection it takes out of it: K + 1 and 6 sessions.
func defaultRiverSettings(k int) []riverSettings {
	return []riverSettings{
		{Name: designRiver, Pool: k, MaxWorkers: 100},
		{Name: designRiverTuned, Pool: 5, MaxWorkers: 400, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond},
	}
}

// riverDesign returns the settings of River design d, if d is one.
func (o options) riverDesign(d string) (riverSettings, bool) {
	for _, rs := range o.river {
		if rs.Name == d {
			return rs, true
		}
	}
	return riverSettings{}, false
}

// has reports whether the run includes mode m.
func (o options) has(m string) bool { return slices.Contains(o.modes, m) }

// replicaCounts parses a comma-separated list of replica counts; empty
// means none.
func replicaCounts(flag, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(s, "%d", &k); err != nil || k < 1 {
			return nil, fmt.Errorf("%s %q: want replica counts such as 1,2,4,8", flag, s)
		}
		out = append(out, k)
	}
	return out, nil
}
