package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
}

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
	var lat, designs, scaling, workerEnv string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.adminURL, "admin-url", os.Getenv("MARKETFLEET_BENCH_DATABASE_URL"), "PostgreSQL superuser URL (make bench passes scripts/postgres.sh's)")
	fs.IntVar(&o.n, "n", 2000, "tasks (symbols) per run")
	fs.IntVar(&o.bars, "bars", 30, "bars per task")
	fs.IntVar(&o.k, "k", 4, "processes (replicas) per design")
	fs.StringVar(&lat, "latency", "0s,20ms", "simulated fetch latencies, comma-separated")
	fs.IntVar(&o.runs, "runs", 3, "runs per design and latency (the median is reported)")
	fs.StringVar(&designs, "designs", "pooled,sequential,marketfleet", "designs to run")
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
		case designPooled, designSequential, designMarketfleet:
			o.designs = append(o.designs, d)
		default:
			return o, fmt.Errorf("--designs: unknown design %q", d)
		}
	}
	for _, s := range strings.Split(scaling, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(s, "%d", &k); err != nil || k < 1 {
			return o, fmt.Errorf("--scaling %q: want replica counts such as 1,2,4,8", s)
		}
		o.scaling = append(o.scaling, k)
	}
	for _, kv := range strings.Split(workerEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !(strings.HasPrefix(kv, "FLEET_") || strings.HasPrefix(kv, "GO")) || !strings.Contains(kv, "=") {
				return o, fmt.Errorf("--worker-env %q: want FLEET_NAME=value (or Go runtime GONAME=value) pairs", kv)
			}
			o.workerEnv = append(o.workerEnv, kv)
		}
	}
	if o.n < 1 || o.bars < 1 || o.k < 1 || o.runs < 1 || o.pool < 1 || o.inflight < 1 {
		return o, fmt.Errorf("-n, -bars, -k, -runs, -pool and -inflight must be at least 1")
	}
	return o, nil
}
