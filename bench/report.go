package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// summary is the runs of one configuration, reduced.
type summary struct {
	Design       string        `json:"design"`
	K            int           `json:"k"`
	Latency      time.Duration `json:"latency_ns"`
	Bars         int           `json:"bars_per_task"`
	Tasks        int           `json:"tasks"`
	Runs         int           `json:"runs"`
	TasksPerSec  float64       `json:"tasks_per_sec_median"`
	TasksMin     float64       `json:"tasks_per_sec_min"`
	TasksMax     float64       `json:"tasks_per_sec_max"`
	BarsPerSec   float64       `json:"bars_per_sec_median"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	PeakSessions int           `json:"peak_sessions"`
	ConnErrors   int           `json:"connection_errors"`
	Incomplete   int           `json:"tasks_incomplete"`
	PeakRSS      int64         `json:"peak_rss_bytes"`
	IdleCPU      float64       `json:"idle_cpu_percent"`
	FetchMean    time.Duration `json:"source_fetch_mean_ns"` // median over the runs
	// WALSyncsPerTask is PostgreSQL's WAL syncs per task (median).
	WALSyncsPerTask float64 `json:"wal_syncs_per_task"`
}

// ceilings are the limits the fleet is measured against.
type ceilings struct {
	JetStream   float64 `json:"jetstream_fetch_ack_per_sec"` // the workers' batch, K consumers, acks sent plain and confirmed per batch
	UpsertRows  float64 `json:"upsert_rows_per_sec"`         // one session, the worker's write path
	UpsertTasks float64 `json:"upsert_tasks_per_sec"`        // the same, in tasks of B bars
	// JetStreamConfirmedAck is JetStream with every ack confirmed on its
	// own (DoubleAck) instead: the
	// ack strategy the worker does not use, for comparison.
	JetStreamConfirmedAck float64 `json:"jetstream_fetch_confirmed_ack_per_sec"`
	// WritePaths is rows/s of each write path through one session (see
	// writePathRates), the worker's (unnest) included.
	WritePaths map[string]float64 `json:"write_paths_rows_per_sec"`
}

// target is one claim of BENCHMARKS.md, checked.
type target struct {
	Claim string `json:"claim"`
	Got   string `json:"got"`
	Pass  bool   `json:"pass"`
}

// report is the JSON document.
type report struct {
	When    time.Time `json:"when"`
	Machine string    `json:"machine"`
	Command string    `json:"command"`
	// Batch and FetchConcurrency are the workers' FLEET_BATCH_SIZE and
	// FLEET_FETCH_CONCURRENCY in this run (their defaults unless -worker-env
	// set them): the ceilings use the batch, the fetch bound the concurrency.
	Batch            int       `json:"batch"`
	FetchConcurrency int       `json:"fetch_concurrency"`
	Ceilings         ceilings  `json:"ceilings"`
	Summaries        []summary `json:"summaries"`
	Scaling          []summary `json:"scaling"`
	// Exhaustion is pooled and marketfleet on a cluster with a low
	// max_connections (ExhaustMaxConn).
	Exhaustion     []summary `json:"exhaustion"`
	ExhaustMaxConn int       `json:"exhaustion_max_connections"`
	// Restatement is what restating one series costs (restatementRates).
	Restatement []restatementRate `json:"restatement"`
	// Audit is what auditing 500 symbols x 10 years of daily bars costs.
	Audit []auditRate `json:"audit"`
	// Profiled is the long one-bar marketfleet run during which Profiles
	// were taken, and ProfiledCPU where the CPU time went in it.
	Profiled    *summary  `json:"profiled,omitempty"`
	Profiles    []profile `json:"profiles,omitempty"`
	ProfiledCPU cpuUse    `json:"profiled_cpu"`
	// Durable is the durable mode; Source the source mode.
	Durable *durableReport `json:"durable,omitempty"`
	Source  []sourceRate   `json:"source,omitempty"`
	Targets []target       `json:"targets"`
	Runs    []runResult
}

// restatementLine writes what restating one series cost, if measured.
func (r report) restatementLine(w io.Writer) {
	if len(r.Restatement) == 0 {
		return
	}
	fmt.Fprint(w, "\nRestatement (one series, one transaction, one session: store.Tx.Restate):")
	for i, rr := range r.Restatement {
		sep := ";"
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s by a %s, %d bars in %s = %.0f bars/s", sep, rr.Series, rr.Action, rr.Bars,
			rr.Took.Round(time.Millisecond), rr.BarsPerSec)
	}
	fmt.Fprintln(w, ".")
}

// benchmark runs everything o asks for and writes the report.
func benchmark(ctx context.Context, o options) error {
	river := slices.ContainsFunc(o.designs, isRiver) && (o.has(modeThroughput) || o.has(modeDurable)) && !o.restatementOnly && !o.auditOnly
	e, err := newEnv(ctx, o.adminURL, river)
	if err != nil {
		return err
	}
	defer e.close()
	rep := report{When: time.Now().UTC(), Machine: machine(), Command: command(os.Args[1:])}
	if o.restatementOnly {
		if rep.Restatement, err = e.restatementRates(ctx); err != nil {
			return err
		}
		rep.restatementLine(os.Stdout)
		return nil
	}
	if o.auditOnly {
		if rep.Audit, err = e.auditRates(ctx); err != nil {
			return err
		}
		rep.auditLine(os.Stdout)
		return nil
	}
	if rep.Batch, err = e.workerSetting(ctx, "FLEET_BATCH_SIZE", o.workerEnv); err != nil {
		return err
	}
	if rep.FetchConcurrency, err = e.workerSetting(ctx, "FLEET_FETCH_CONCURRENCY", o.workerEnv); err != nil {
		return err
	}
	seq := 0
	series := func(c runConfig, runs int) (summary, error) {
		var rs []runResult
		for range runs {
			seq++
			fmt.Fprintf(os.Stderr, "bench: %s K=%d L=%s B=%d n=%d run %d/%d\n", c.design, c.k, c.latency, c.bars, c.n, len(rs)+1, runs)
			r, err := e.run(ctx, c, seq)
			if err != nil {
				return summary{}, fmt.Errorf("%s K=%d L=%s: %w", c.design, c.k, c.latency, err)
			}
			rs = append(rs, r)
		}
		rep.Runs = append(rep.Runs, rs...)
		return summarize(rs), nil
	}
	if o.has(modeThroughput) {
		if err := e.throughputMode(ctx, o, &rep, series); err != nil {
			return err
		}
	}
	if o.has(modeDurable) {
		d, err := e.durableMode(ctx, o, rep.Batch, &seq, series)
		if err != nil {
			return err
		}
		rep.Durable = &d
	}
	if o.has(modeSource) {
		if rep.Source, err = e.sourceMode(ctx, o, &seq); err != nil {
			return err
		}
	}
	rep.Targets = checkTargets(rep, o)
	return rep.write(o)
}

// throughputMode races the designs at the nats-server's default fsync
// interval, and measures the ceilings, the restatement and audit costs,
// the one-bar runs (one of them profiled), the scaling series and the
// exhaustion mode.
func (e *env) throughputMode(ctx context.Context, o options, rep *report, series func(runConfig, int) (summary, error)) error {
	var err error
	if rep.Ceilings, err = e.measureCeilings(ctx, o, rep.Batch); err != nil {
		return err
	}
	if o.costs {
		if rep.Restatement, err = e.restatementRates(ctx); err != nil {
			return err
		}
		if rep.Audit, err = e.auditRates(ctx); err != nil {
			return err
		}
	}
	if rep.Summaries, err = designTable(o, series); err != nil {
		return err
	}
	if o.oneBarN > 0 {
		if o.profile {
			dir, err := filepath.Abs(filepath.Join("bench", "profiles"))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			c := runConfig{design: designMarketfleet, k: o.k, n: 5 * o.oneBarN, bars: 1, env: o.workerEnv, profile: true, profileDir: dir}
			s, err := series(c, 1)
			if err != nil {
				return err
			}
			rep.Profiled = &s
			rep.Profiles = rep.Runs[len(rep.Runs)-1].Profiles
			rep.ProfiledCPU = rep.Runs[len(rep.Runs)-1].CPU
		}
	}
	lmax := slices.Max(o.latencies)
	for _, k := range o.scaling {
		s, err := series(runConfig{design: designMarketfleet, k: k, n: o.n, bars: o.bars, latency: lmax, env: o.workerEnv}, o.runs)
		if err != nil {
			return err
		}
		rep.Scaling = append(rep.Scaling, s)
	}
	if o.exhaustMaxConn > 0 {
		if rep.Exhaustion, err = e.exhaustion(ctx, o, series); err != nil {
			return err
		}
		rep.ExhaustMaxConn = o.exhaustMaxConn
	}
	return nil
}

// designTable runs every design o asks for at every latency, then the
// one-bar runs: the table of the throughput and durable modes.
func designTable(o options, series func(runConfig, int) (summary, error)) ([]summary, error) {
	cs := make([]runConfig, 0)
	for _, l := range o.latencies {
		cs = append(cs, designRuns(o, l)...)
	}
	if o.oneBarN > 0 {
		cs = append(cs, oneBarRuns(o)...)
	}
	out := make([]summary, 0, len(cs))
	for _, c := range cs {
		s, err := series(c, o.runs)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// designRuns are the runs of every design o asks for at latency l, with
// the standard workload.
func designRuns(o options, l time.Duration) []runConfig {
	var out []runConfig
	for _, d := range o.designs {
		c := runConfig{design: d, k: o.k, n: o.n, bars: o.bars, latency: l, pool: o.pool, inflight: o.inflight, env: o.workerEnv}
		if rs, ok := o.riverDesign(d); ok {
			c.river = rs
		}
		out = append(out, c)
	}
	return out
}

// oneBarRuns are the one-bar runs at L = 0: marketfleet and every River
// design o asks for.
func oneBarRuns(o options) []runConfig {
	var out []runConfig
	for _, d := range o.designs {
		if rs, ok := o.riverDesign(d); ok {
			out = append(out, runConfig{design: d, k: o.k, n: o.oneBarN, bars: 1, river: rs})
		}
	}
	return append(out, runConfig{design: designMarketfleet, k: o.k, n: o.oneBarN, bars: 1, env: o.workerEnv})
}

// exhaustion runs pooled-concurrent and marketfleet with exhaustK processes
// on a scratch cluster whose max_connections is exhaustMaxConn: the first
// wants more sessions than there are, the second holds its budget. The
// workers keep only 2 sessions in reserve for others (the harness's).
func (e *env) exhaustion(ctx context.Context, o options, series func(runConfig, int) (summary, error)) ([]summary, error) {
	fmt.Fprintf(os.Stderr, "bench: exhaustion mode, max_connections = %d\n", o.exhaustMaxConn)
	pg, err := startScratchPG(ctx, filepath.Join(e.dir, "pg"), o.exhaustMaxConn)
	if err != nil {
		return nil, err
	}
	defer pg.stop()
	saved := e.adminURL
	e.adminURL = pg.url
	defer func() { e.adminURL = saved }()
	var out []summary
	for _, c := range []runConfig{
		{design: designPooled, k: o.exhaustK, n: o.n, bars: o.bars, pool: o.pool, inflight: o.inflight},
		{design: designMarketfleet, k: o.exhaustK, n: o.n, bars: o.bars, env: append([]string{"FLEET_DB_RESERVE=2"}, o.workerEnv...)},
	} {
		s, err := series(c, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (e *env) measureCeilings(ctx context.Context, o options, batch int) (ceilings, error) {
	var c ceilings
	var err error
	fmt.Fprintln(os.Stderr, "bench: ceilings")
	if c.JetStream, err = jetStreamCeiling(ctx, e.natsURL, max(o.n, 20*batch), batch, o.k, ackFlushed); err != nil {
		return c, fmt.Errorf("JetStream ceiling: %w", err)
	}
	if c.JetStreamConfirmedAck, err = jetStreamCeiling(ctx, e.natsURL, max(o.n, 20*batch), batch, o.k, ackConfirmed); err != nil {
		return c, fmt.Errorf("JetStream ceiling, plain acks: %w", err)
	}
	dbURL, drop, err := e.freshDatabase(ctx, "bench_ceiling")
	if err != nil {
		return c, err
	}
	defer drop()
	// At most 400 batches: enough for a steady rate, and their daily bars
	// stay within a few decades of the synthetic calendar.
	if c.UpsertRows, err = upsertCeiling(ctx, dbURL, min(max(o.n/batch, 10), 400), batch, o.bars); err != nil {
		return c, fmt.Errorf("upsert ceiling: %w", err)
	}
	c.UpsertTasks = c.UpsertRows / float64(o.bars)
	if c.WritePaths, err = e.writePathRates(ctx, min(max(o.n/batch, 10), 400), batch, o.bars); err != nil {
		return c, err
	}
	return c, nil
}

func summarize(rs []runResult) summary {
	s := summary{Design: rs[0].Design, K: rs[0].K, Latency: rs[0].Latency, Bars: rs[0].Bars, Tasks: rs[0].Tasks, Runs: len(rs)}
	fm := make([]time.Duration, len(rs))
	wal := make([]float64, len(rs))
	for i, r := range rs {
		fm[i] = r.FetchMean
		wal[i] = float64(r.WALSyncs) / float64(r.Tasks)
	}
	s.FetchMean, s.WALSyncsPerTask = median(fm), median(wal)
	tps := make([]float64, len(rs))
	bps := make([]float64, len(rs))
	p50 := make([]time.Duration, len(rs))
	p99 := make([]time.Duration, len(rs))
	for i, r := range rs {
		tps[i], bps[i], p50[i], p99[i] = r.TasksPerSec, r.BarsPerSec, r.P50, r.P99
		s.PeakSessions = max(s.PeakSessions, r.PeakSessions)
		s.ConnErrors += r.ConnErrors
		s.Incomplete += r.Tasks - r.Completed
		s.PeakRSS = max(s.PeakRSS, r.PeakRSS)
		s.IdleCPU = max(s.IdleCPU, r.IdleCPU)
	}
	s.TasksPerSec, s.BarsPerSec, s.P50, s.P99 = median(tps), median(bps), median(p50), median(p99)
	s.TasksMin, s.TasksMax = slices.Min(tps), slices.Max(tps)
	return s
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return ys[len(ys)/2]
}

// command is the command line without the database URL (it may hold a
// password, and it is the machine's, not the benchmark's).
func command(args []string) string {
	var keep []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--admin-url" || a == "-admin-url":
			i++
		case strings.HasPrefix(a, "--admin-url=") || strings.HasPrefix(a, "-admin-url="):
		default:
			keep = append(keep, a)
		}
	}
	return strings.TrimSpace("make bench " + strings.Join(keep, " "))
}

// machine describes where the benchmark ran.
func machine() string {
	kernel, _ := exec.Command("uname", "-sr").Output()
	return fmt.Sprintf("%d CPUs, %s, %s", runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())
}

func (r report) write(o options) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	r.markdown(&md, o)
	fmt.Print(md.String())
	if o.mdPath != "" {
		return os.WriteFile(o.mdPath, []byte(md.String()), 0o644)
	}
	return nil
}

func (r report) markdown(w io.Writer, o options) {
	fmt.Fprintf(w, "Machine: %s. Command: `%s`. %d tasks x %d bars, K = %d, median of %d runs; "+
		"workers with FLEET_BATCH_SIZE=%d, FLEET_FETCH_CONCURRENCY=%d.\n",
		r.Machine, r.Command, o.n, o.bars, o.k, o.runs, r.Batch, r.FetchConcurrency)
	if len(r.Summaries) > 0 {
		fmt.Fprintf(w, "\n### Throughput (nats-server with its default fsync interval)\n\n")
		table(w, r.Summaries)
		fmt.Fprintf(w, "\nCeilings: JetStream fetch+ack (batch %d, %d consumers, acks confirmed per batch) %.0f tasks/s; "+
			"one session's upsert (the worker's write path, batch %d) %.0f rows/s = %.0f tasks/s of %d bars.\n",
			r.Batch, o.k, r.Ceilings.JetStream, r.Batch, r.Ceilings.UpsertRows, r.Ceilings.UpsertTasks, o.bars)
	}
	if c := r.Ceilings; c.JetStreamConfirmedAck > 0 && len(c.WritePaths) > 0 {
		fmt.Fprintf(w, "\nAck strategy: the same JetStream ceiling with every ack confirmed on its own (DoubleAck, the worker's before) %.0f tasks/s (%.2fx). "+
			"Write paths (one session, batch %d x %d bars, fresh table):", c.JetStreamConfirmedAck, c.JetStreamConfirmedAck/c.JetStream, r.Batch, o.bars)
		base := c.WritePaths[pathUnnest]
		for i, p := range writePaths {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s %.0f rows/s (%.2fx)", sep, p, c.WritePaths[p], c.WritePaths[p]/base)
		}
		fmt.Fprintln(w, ".")
	}
	r.restatementLine(w)
	r.auditLine(w)
	r.profileSection(w)
	if len(r.Scaling) > 0 {
		fmt.Fprintf(w, "\nScaling (marketfleet, L = %s):\n\n", r.Scaling[0].Latency)
		table(w, r.Scaling)
	}
	if len(r.Exhaustion) > 0 {
		fmt.Fprintf(w, "\nExhaustion (a scratch cluster with max_connections = %d, L = 0, one run):\n\n", r.ExhaustMaxConn)
		table(w, r.Exhaustion)
	}
	if d := r.Durable; d != nil {
		fmt.Fprintf(w, "\n### Durable (nats-server with sync_interval: always; PostgreSQL synchronous_commit = on)\n\n")
		table(w, d.Summaries)
		fmt.Fprintf(w, "\nCeilings under it (batch %d, %d consumers): JetStream fetch+ack with acks confirmed per batch %.0f tasks/s, "+
			"with every ack confirmed on its own %.0f tasks/s; publish (one message at a time) and fetch+ack at once %.0f tasks/s.\n\n"+
			"fsyncs of the nats-server (strace), per task:\n\n", r.Batch, o.k, d.JetStream, d.JetStreamConfirmedAck, d.JetStreamWithPublish)
		var b strings.Builder
		fsyncTable(&b, d.Fsyncs)
		fmt.Fprint(w, b.String())
		fmt.Fprint(w, "\nPostgreSQL's WAL syncs per task (pg_stat_wal, whole runs, median):")
		for i, s := range d.Summaries {
			sep := ";"
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s (L = %s, %d bars) %.3f", sep, s.Design, s.Latency, s.Bars, s.WALSyncsPerTask)
		}
		fmt.Fprintln(w, ".")
	}
	if len(r.Source) > 0 {
		s0 := r.Source[0]
		fmt.Fprintf(w, "\n### At the source's rate (a fake Yahoo answering after %s ± %s, FLEET_SOURCE_RATE=%g, burst %d; counted by the source)\n\n",
			o.sourceLatency, o.sourceJitter, s0.Rate, s0.Burst)
		fmt.Fprintln(w, "| K | tasks | requests | sustained req/s | of R | overall req/s | peak in 1 s | R + burst | peak sessions | incomplete |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, s := range r.Source {
			fmt.Fprintf(w, "| %d | %d | %d | %.1f | %.0f%% | %.1f | %d | %.0f | %d | %d |\n", s.K, s.Tasks, s.Requests, s.Sustained,
				100*s.Sustained/s.Rate, s.Overall, s.Peak1s, s.Rate+float64(s.Burst), s.PeakSessions, s.Incomplete)
		}
		fmt.Fprintf(w, "\nSustained: requests per second at the source without the first and last %s of the run.\n", sustainSkip)
	}
	fmt.Fprintln(w, "\n| target | measured | |\n| --- | --- | --- |")
	for _, t := range r.Targets {
		mark := "pass"
		if !t.Pass {
			mark = "**miss**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.Claim, t.Got, mark)
	}
}

// profileSection writes where the CPU went in the profiled one-bar run.
func (r report) profileSection(w io.Writer) {
	if r.Profiled == nil {
		return
	}
	c := r.ProfiledCPU
	fmt.Fprintf(w, "\nWhere the time goes (marketfleet, K = %d, %d one-bar tasks, %.0f tasks/s): CPU per task "+
		"%.1f µs in the workers, %.1f µs in the nats-server, %.1f µs in PostgreSQL, %.1f µs in the producer "+
		"(%.1f µs in all, against %.1f µs of wall time x 2 cores).\n", r.Profiled.K, c.Tasks, r.Profiled.TasksPerSec,
		c.perTask(c.Workers), c.perTask(c.NATS), c.perTask(c.Postgres), c.perTask(c.Producer),
		c.perTask(c.Workers+c.NATS+c.Postgres+c.Producer), c.perTask(c.Wall))
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\nCPU profile of %s (`go tool pprof -top bench/profiles/%s.pprof`):\n\n```\n%s\n```\n",
			p.Of, p.Of, strings.Join(p.Top, "\n"))
	}
}

func table(w io.Writer, ss []summary) {
	fmt.Fprintln(w, "| L | bars/task | design | K | tasks/s median [min–max] | bars/s | p50 | p99 | peak sessions | conn. errors | incomplete | peak RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, s := range ss {
		fmt.Fprintf(w, "| %s | %d | %s | %d | %.0f [%.0f–%.0f] | %.0f | %s | %s | %d | %d | %d | %.1f MB |\n",
			s.Latency, s.Bars, s.Design, s.K, s.TasksPerSec, s.TasksMin, s.TasksMax, s.BarsPerSec,
			s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond), s.PeakSessions, s.ConnErrors, s.Incomplete,
			float64(s.PeakRSS)/(1<<20))
	}
}
