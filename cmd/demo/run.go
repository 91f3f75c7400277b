package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
	"marketfleet/internal/sampler"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/store"
)

// fleetPrefix is the application_name prefix of every worker session.
const fleetPrefix = "marketfleet-worker/"

// demoDatabase is created on the --admin-url server when DATABASE_URL is unset.
const demoDatabase = "marketfleet_demo"

// demo is one run's wiring.
type demo struct {
	o       options
	fleet   *cli.Fleet // the environment's settings: the workers inherit it
	natsURL string
	dbURL   string
	js      jetstream.JetStream
	db      *store.Store // the demo's own session: schema, sampler, final count
	samples *sampler.Sampler
}

func run(ctx context.Context, o options) error {
	fleet := &cli.Fleet{}
	fleet.Defaults()
	if err := cli.LoadFleet(fleet, fleet); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(o.stateDir, "logs"), 0o755); err != nil {
		return err
	}
	symbols, err := readSymbols(o.universe)
	if err != nil {
		return err
	}
	d := &demo{o: o, fleet: fleet}
	if d.dbURL, err = demoDatabaseURL(ctx, o); err != nil {
		return err
	}
	natsURL, stopNATS, err := ensureNATS(ctx, o)
	if err != nil {
		return err
	}
	defer stopNATS()
	d.natsURL = natsURL
	if _, d.js, err = cli.ConnectNATS(ctx, cli.Common{NATSURL: natsURL}, "marketfleet-demo", zerolog.Nop()); err != nil {
		return err
	}
	// The stream exists before any worker starts: the demo reads its state
	// as soon as the fleet holds its sessions, which can be before the
	// workers have reached NATS.
	if _, _, err := queue.EnsureStream(ctx, d.js, fleet.Config.StreamConfig()); err != nil {
		return err
	}
	if d.db, err = store.Open(ctx, d.dbURL, store.Config{ApplicationName: "marketfleet-demo"}); err != nil {
		return err
	}
	defer d.db.Close(context.Background())
	if _, err := d.db.Migrate(ctx); err != nil {
		return err
	}
	sctx, stopSampling := context.WithCancel(ctx)
	d.samples = sampler.New(20*time.Millisecond, func(ctx context.Context) (int, error) {
		return d.db.CountSessions(ctx, fleetPrefix)
	})
	sampled := make(chan struct{})
	go func() { defer close(sampled); _ = d.samples.Run(sctx) }()
	stop := func() { stopSampling(); <-sampled }

	start := time.Now()
	from, to, drained, err := d.runFleet(ctx)
	wall := time.Since(start)
	stop() // the store is the sampler's until here
	if err != nil {
		return err
	}
	n, err := d.db.CountBars(ctx, symbols, market.Interval1d, from, to)
	if err != nil {
		return err
	}
	return summarize(o, len(symbols), drained, n, wall, d.samples.Stats())
}

// runFleet starts the workers, waits until they hold their sessions,
// enqueues the universe, watches the backlog drain and stops the workers.
// It returns the window enqueued and the number of tasks done.
func (d *demo) runFleet(ctx context.Context) (from, to time.Time, done int, err error) {
	logDir := filepath.Join(d.o.stateDir, "logs")
	procs, err := startWorkers(d.o.workers, filepath.Join(d.o.binDir, "worker"), d.natsURL, d.dbURL, logDir)
	if err != nil {
		return from, to, 0, err
	}
	fmt.Printf("workers:  %d worker processes started (logs in %s)\n", d.o.workers, logDir)
	from, to, done, err = d.enqueueAndWatch(ctx, procs)
	if stopErr := stopWorkers(procs, 30*time.Second); err == nil {
		err = stopErr
	}
	return from, to, done, err
}

func (d *demo) enqueueAndWatch(ctx context.Context, procs []*proc) (from, to time.Time, done int, err error) {
	if err := waitSessions(ctx, d.samples, d.o.workers, procs); err != nil {
		return from, to, 0, err
	}
	stream, err := d.js.Stream(ctx, d.fleet.Config.Stream.Name)
	if err != nil {
		return from, to, 0, err
	}
	before, err := stream.Info(ctx)
	if err != nil {
		return from, to, 0, err
	}
	enqueued := time.Now()
	to = enqueued.UTC().Truncate(time.Second)
	from = to.Add(-time.Duration(d.o.bars) * 24 * time.Hour)
	out, err := produce(ctx, d.o, d.natsURL, from, to)
	if err != nil {
		return from, to, 0, err
	}
	fmt.Printf("producer: %s\n", out)
	after, err := stream.Info(ctx)
	if err != nil {
		return from, to, 0, err
	}
	// Work-queue retention: tasks left from an earlier run plus this run's.
	total := int(before.State.Msgs + after.State.LastSeq - before.State.LastSeq)
	done, err = watch(ctx, stream, total, enqueued, d.samples, procs)
	return from, to, done, err
}

// demoDatabaseURL is DATABASE_URL if set; else it creates marketfleet_demo
// on the --admin-url server and returns its URL.
func demoDatabaseURL(ctx context.Context, o options) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	if o.adminURL == "" {
		return "", fmt.Errorf("set DATABASE_URL, or pass --admin-url (make demo does)")
	}
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	admin, err := store.Open(actx, o.adminURL, store.Config{ApplicationName: "marketfleet-demo"})
	if err != nil {
		return "", err
	}
	defer admin.Close(context.Background())
	if _, err := admin.EnsureDatabase(actx, demoDatabase); err != nil {
		return "", err
	}
	u, err := store.WithDatabase(o.adminURL, demoDatabase)
	if err != nil {
		return "", fmt.Errorf("--admin-url: %w", err)
	}
	fmt.Printf("postgres: database %s ready\n", demoDatabase)
	return u, nil
}

// produce runs the real producer and returns its one-line report.
func produce(ctx context.Context, o options, natsURL string, from, to time.Time) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(o.binDir, "producer"), "enqueue", "--universe", o.universe,
		"--interval", "1d", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--requested-by", "demo")
	cmd.Env = append(os.Environ(), "NATS_URL="+natsURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("producer: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// waitSessions waits until the fleet holds n sessions.
func waitSessions(ctx context.Context, s *sampler.Sampler, n int, procs []*proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Last < n {
		if err := exited(procs); err != nil {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the fleet holds %d of %d sessions after 30s; see the worker logs", s.Stats().Last, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func readSymbols(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := market.ParseUniverse(f, market.Interval1d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Symbol
	}
	return out, nil
}
