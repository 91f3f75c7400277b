package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"marketfleet/internal/sampler"
	"marketfleet/queue"
)

// Designs under test.
const (
	designPooled      = "pooled"
	designSequential  = "sequential"
	designMarketfleet = "marketfleet"
)

// runConfig is one run: a design, its replica count and the workload.
type runConfig struct {
	design   string
	k        int           // processes
	n, bars  int           // tasks, bars per task
	latency  time.Duration // synthetic fetch latency
	pool     int           // pooled: connections per process
	inflight int           // pooled: tasks in flight per process
	env      []string      // marketfleet: extra worker settings
	river    riverSettings // river designs: the client's settings
	// profile takes CPU profiles of worker 0 and the nats-server during the
	// run (marketfleet only), into profileDir.
	profile    bool
	profileDir string
}

// runResult is what one run measured.
type runResult struct {
	Design       string        `json:"design"`
	K            int           `json:"k"`
	Latency      time.Duration `json:"latency_ns"`
	Tasks        int           `json:"tasks"`
	Bars         int           `json:"bars_per_task"`
	Wall         time.Duration `json:"wall_ns"`
	TasksPerSec  float64       `json:"tasks_per_sec"`
	BarsPerSec   float64       `json:"bars_per_sec"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	PeakSessions int           `json:"peak_sessions"`
	Samples      int           `json:"session_samples"`
	ConnErrors   int           `json:"connection_errors"`
	PeakRSS      int64         `json:"peak_rss_bytes"`
	IdleCPU      float64       `json:"idle_cpu_percent"` // marketfleet only: one worker, empty queue
	// FetchMean is how long one source fetch took on average, the
	// simulated latency plus scheduling (marketfleet only, from the
	// workers' marketfleet_source_request_duration_seconds).
	FetchMean time.Duration `json:"source_fetch_mean_ns"`
	Completed int           `json:"tasks_completed"`
	// CPU is where the machine's CPU time went during the run.
	CPU cpuUse `json:"cpu"`
	// WALSyncs is how many times PostgreSQL synced its WAL during the run
	// (pg_stat_wal.wal_sync, the whole cluster: commits with
	// synchronous_commit = on wait for one), read after the design's
	// processes stopped (so it includes the idle-CPU probe's 3 s).
	WALSyncs int64 `json:"wal_syncs"`
	// Profiles are the CPU profiles taken during the run, if asked for.
	Profiles []profile `json:"profiles,omitempty"`
}

var day0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// run carries out one run on fresh state and measures it.
func (e *env) run(ctx context.Context, c runConfig, seq int) (runResult, error) {
	r := runResult{Design: c.design, K: c.k, Latency: c.latency, Tasks: c.n, Bars: c.bars}
	if err := e.resetNATS(ctx); err != nil {
		return r, err
	}
	if _, _, err := queue.EnsureStream(ctx, e.js, e.streamConfig()); err != nil {
		return r, err
	}
	dbURL, drop, err := e.freshDatabase(ctx, fmt.Sprintf("bench_%s_%d", c.design, seq))
	if err != nil {
		return r, err
	}
	defer drop()
	if isRiver(c.design) {
		if err := riverMigrate(ctx, filepath.Join(e.dir, "river-bench"), dbURL); err != nil {
			return r, err
		}
	}
	procs, err := e.startDesign(c, dbURL, seq)
	defer func() {
		for _, p := range procs {
			_ = p.stop()
		}
	}()
	if err != nil {
		return r, err
	}
	if err := waitReady(ctx, procs); err != nil {
		return r, err
	}
	stopSampling, err := sampleSessions(ctx, dbURL, appPrefix(c.design))
	if err != nil {
		return r, err
	}
	type profiles struct {
		ps  []profile
		err error
	}
	var profiled chan profiles
	if c.profile {
		profiled = make(chan profiles, 1)
		go func() {
			ps, err := e.takeProfiles(ctx, procs, time.Second, 3*time.Second, c.profileDir)
			profiled <- profiles{ps, err}
		}()
	}
	cpu0 := e.cpuSnapshot(procs)
	wal0, err := walSyncs(ctx, dbURL)
	if err != nil {
		stopSampling()
		return r, err
	}
	t0 := time.Now()
	var producerCPU time.Duration
	if isRiver(c.design) {
		err = riverEnqueue(ctx, filepath.Join(e.dir, "river-bench"), dbURL, c.n, c.bars, day0)
		if err == nil {
			err = waitRiverDrained(ctx, dbURL, 15*time.Minute)
		}
	} else if producerCPU, err = e.enqueue(ctx, c); err == nil {
		err = e.waitDrained(ctx, 15*time.Minute)
	}
	if err != nil {
		stopSampling()
		return r, err
	}
	r.Wall = time.Since(t0)
	r.CPU = e.cpuSnapshot(procs).since(cpu0)
	r.CPU.Producer, r.CPU.Tasks, r.CPU.Wall = producerCPU, c.n, r.Wall
	st := stopSampling()
	if profiled != nil {
		got := <-profiled
		if got.err != nil {
			return r, got.err
		}
		r.Profiles = got.ps
	}
	r.PeakSessions, r.Samples = st.Peak, st.Samples
	r.TasksPerSec = float64(c.n) / r.Wall.Seconds()
	r.BarsPerSec = float64(c.n*c.bars) / r.Wall.Seconds()
	for _, p := range procs {
		r.PeakRSS = max(r.PeakRSS, p.peakRSS())
	}
	if c.design == designMarketfleet {
		r.FetchMean = sourceFetchMean(procs)
		r.IdleCPU = idleCPU(procs[0], 3*time.Second)
		r.ConnErrors = connectFailures(procs)
	}
	for _, p := range procs {
		_ = p.stop()
	}
	// A backend publishes its WAL counters at most once a second, and at
	// exit: read them once the design's sessions are gone.
	if wal, err := walSyncs(ctx, dbURL); err == nil {
		r.WALSyncs = wal - wal0
	}
	if c.design == designPooled || c.design == designSequential {
		r.ConnErrors = baselineConnErrors(procs)
	}
	procs = nil
	r.Completed, r.P50, r.P99, err = latencies(ctx, dbURL, t0, c.bars)
	return r, err
}

// appPrefix is the application_name prefix of a design's sessions.
func appPrefix(design string) string {
	switch design {
	case designMarketfleet:
		return "marketfleet-worker/"
	case designRiver, designRiverTuned:
		return "bench-river/"
	}
	return "bench-" + design + "/"
}

// isRiver reports whether design runs on River (PostgreSQL only: no
// JetStream, its jobs inserted with InsertMany).
func isRiver(design string) bool { return design == designRiver || design == designRiverTuned }

// startDesign starts the k processes of the design.
func (e *env) startDesign(c runConfig, dbURL string, seq int) ([]*proc, error) {
	var procs []*proc
	if isRiver(c.design) {
		// One River client, its pool sized for K (defaultRiverSettings).
		p, err := startProc(c.design, filepath.Join(e.dir, "river-bench"), riverWorkerEnv(dbURL, 0, c.river, c.latency), "work")
		if err != nil {
			return nil, err
		}
		p.readyLine = "ready\n"
		return []*proc{p}, nil
	}
	for i := range c.k {
		var p *proc
		var err error
		common := []string{"NATS_URL=" + e.natsURL, "DATABASE_URL=" + dbURL, e.batchesEnv()}
		if c.design == designMarketfleet {
			port, perr := freePort()
			if perr != nil {
				return procs, perr
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			p, err = startProc(fmt.Sprintf("worker-%d", i), filepath.Join(e.dir, "worker"), append(append(common,
				fmt.Sprintf("FLEET_WORKER_ID=bench-%d-%d", seq, i), "FLEET_METRICS_ADDR="+addr,
				"FLEET_SYNTHETIC_LATENCY="+c.latency.String(), "FLEET_FEATURES=false",
				"FLEET_LOG_LEVEL=warn", "FLEET_LOG_FORMAT=json", "FLEET_PPROF=true"), c.env...))
			if p != nil {
				p.metrics = addr
			}
		} else {
			stats := filepath.Join(e.dir, fmt.Sprintf("stats-%d-%d.json", seq, i))
			p, err = startProc(fmt.Sprintf("%s-%d", c.design, i), filepath.Join(e.dir, "baseline"), append(common,
				"BASELINE_DESIGN="+c.design, fmt.Sprintf("BASELINE_POOL=%d", c.pool),
				fmt.Sprintf("BASELINE_INFLIGHT=%d", c.inflight), "BASELINE_LATENCY="+c.latency.String(),
				fmt.Sprintf("BASELINE_APP=%s%d", appPrefix(c.design), i), "BASELINE_STATS="+stats,
				"BASELINE_MAX_DELIVER=1000")) // a hand-written consumer retries without limit
			if p != nil {
				p.stats = stats
			}
		}
		if err != nil {
			return procs, err
		}
		procs = append(procs, p)
	}
	return procs, nil
}

func waitReady(ctx context.Context, procs []*proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range procs {
		for !p.ready() {
			if p.cmd.ProcessState != nil || time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s not ready within 60s:\n%s", p.name, tail(p.logs.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // baselines: let them subscribe
	return nil
}

// enqueue publishes the workload with the real producer, and returns the
// CPU time the producer took.
func (e *env) enqueue(ctx context.Context, c runConfig) (time.Duration, error) {
	universe := filepath.Join(e.dir, fmt.Sprintf("universe-%d.txt", c.n))
	if _, err := os.Stat(universe); err != nil {
		var b strings.Builder
		for i := range c.n {
			fmt.Fprintf(&b, "B%05d\n", i)
		}
		if err := os.WriteFile(universe, []byte(b.String()), 0o600); err != nil {
			return 0, err
		}
	}
	to := day0.AddDate(0, 0, c.bars)
	cmd := exec.CommandContext(ctx, filepath.Join(e.dir, "producer"), "enqueue", "--universe", universe,
		"--interval", "1d", "--from", day0.Format(time.DateOnly), "--to", to.Format(time.DateOnly), "--requested-by", "bench")
	cmd.Env = append(os.Environ(), "NATS_URL="+e.natsURL, "FLEET_LOG_LEVEL=warn", e.batchesEnv())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d accepted", c.n)) {
		return 0, fmt.Errorf("producer: %v: %s", err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// waitDrained waits until every task is settled: the stream is empty, or
// (a design gave up on some) nothing is pending or awaiting an ack.
func (e *env) waitDrained(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	s, err := e.js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		return err
	}
	for {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs == 0 {
			return nil
		}
		if b, err := queue.BacklogOf(ctx, e.js, queue.DefaultStream, queue.DefaultConsumer); err == nil && b.Pending == 0 && b.AckPending == 0 {
			return nil // the rest was given up: counted as incomplete
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d tasks left after %s", info.State.Msgs, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// walSyncs is the cluster's WAL syncs so far (pg_stat_wal.wal_sync).
func walSyncs(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&n)
	return n, err
}

// waitRiverDrained waits until River has finished every job.
func waitRiverDrained(ctx context.Context, dbURL string, within time.Duration) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(within)
	for {
		done, err := riverDrained(ctx, conn)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("river jobs left after %s", within)
		}
		time.Sleep(20 * time.Millisecond) // the query scans: poll it less than the stream's info
	}
}

// sampleSessions samples the design's sessions in the run's database every
// 20 ms on a connection of its own.
func sampleSessions(ctx context.Context, dbURL, prefix string) (func() sampler.Stats, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	s := sampler.New(20*time.Millisecond, func(ctx context.Context) (int, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND starts_with(application_name, $1)`, prefix).Scan(&n)
		return n, err
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(sctx) }()
	return func() sampler.Stats {
		cancel()
		<-done
		_ = conn.Close(context.Background())
		return s.Stats()
	}, nil
}

// latencies reads, per task (symbol), when its bars were written, and
// returns how many tasks completed and the p50 and p99 of commit time
// minus the start of the enqueue.
func latencies(ctx context.Context, dbURL string, t0 time.Time, bars int) (int, time.Duration, time.Duration, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT min(updated_at) FROM bars GROUP BY symbol HAVING count(*) = $1`, bars)
	if err != nil {
		return 0, 0, 0, err
	}
	ts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil || len(ts) == 0 {
		return 0, 0, 0, err
	}
	ds := make([]time.Duration, len(ts))
	for i, t := range ts {
		ds[i] = t.Sub(t0)
	}
	slices.Sort(ds)
	return len(ds), ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], nil
}

// idleCPU is one worker's CPU use on an empty queue, in percent of a core.
func idleCPU(p *proc, over time.Duration) float64 {
	before := p.cpuTime()
	time.Sleep(over)
	return 100 * (p.cpuTime() - before).Seconds() / over.Seconds()
}

// sourceFetchMean is the mean duration of the workers' successful source
// fetches, from their marketfleet_source_request_duration_seconds.
func sourceFetchMean(procs []*proc) time.Duration {
	var sum float64
	var count uint64
	for _, mf := range scrape(procs, "marketfleet_source_request_duration_seconds") {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && l.GetValue() == "ok" {
					sum += m.GetHistogram().GetSampleSum()
					count += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if count == 0 {
		return 0
	}
	return time.Duration(sum / float64(count) * float64(time.Second))
}

// scrape returns the metric family name from each worker's /metrics.
func scrape(procs []*proc, name string) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, p := range procs {
		resp, err := http.Get("http://" + p.metrics + "/metrics")
		if err != nil {
			continue
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		mfs, err := parser.TextToMetricFamilies(resp.Body)
		_ = resp.Body.Close()
		if err == nil && mfs[name] != nil {
			out = append(out, mfs[name])
		}
	}
	return out
}

// connectFailures sums marketfleet_db_connect_failures_total over workers.
func connectFailures(procs []*proc) int {
	total := 0
	for _, mf := range scrape(procs, "marketfleet_db_connect_failures_total") {
		for _, m := range mf.GetMetric() {
			total += int(m.GetCounter().GetValue())
		}
	}
	return total
}

// baselineStats is the stats file a baseline process writes at exit.
type baselineStats struct {
	TasksOK       int            `json:"tasks_ok"`
	DBErrors      map[string]int `json:"db_errors"`
	ConnectErrors int            `json:"connect_errors"`
}

func baselineConnErrors(procs []*proc) int {
	total := 0
	for _, p := range procs {
		b, err := os.ReadFile(p.stats)
		if err != nil {
			continue
		}
		var s baselineStats
		if json.Unmarshal(b, &s) == nil {
			total += s.ConnectErrors // 53300 refusals included
		}
	}
	return total
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
