package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"marketfleet/market"
	"marketfleet/source/synthetic"
)

// stopTimeout bounds StopAndCancel at exit (the harness kills a process
// still running 30 s after SIGTERM).
const stopTimeout = 20 * time.Second

// Application names of the short-lived commands' sessions: not under the
// "bench-river/" prefix the harness counts.
const (
	migrateApp = "bench-river-migrate"
	insertApp  = "bench-river-insert"
)

// migrate applies River's migrations (river_job, river_leader, river_queue,
// ...) up to the newest, next to marketfleet's tables, and returns the
// versions applied (none when already up to date).
func migrate(ctx context.Context, dbURL string) ([]int, error) {
	pool, err := newPool(dbURL, migrateApp, 1)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrate up: %w", err)
	}
	versions := make([]int, 0, len(res.Versions))
	for _, v := range res.Versions {
		versions = append(versions, v.Version)
	}
	return versions, nil
}

// insertParams is the workload `insert` enqueues: N jobs, job i for the
// symbol B%05d (i), Bars bars of Interval from From, Chunk jobs per
// InsertMany call.
type insertParams struct {
	N, Bars, Chunk int
	From           time.Time
	Interval       market.Interval
}

// validate names the flag at fault.
func (p insertParams) validate() error {
	switch {
	case p.N < 1:
		return fmt.Errorf("-n %d: want at least 1", p.N)
	case p.Bars < 1:
		return fmt.Errorf("-bars %d: want at least 1", p.Bars)
	case p.Chunk < 1:
		return fmt.Errorf("-chunk %d: want at least 1", p.Chunk)
	case !p.Interval.Valid():
		return fmt.Errorf("-interval %q: not an interval marketfleet knows", p.Interval)
	}
	return nil
}

// jobs returns the args of jobs [lo, hi) of the workload.
func (p insertParams) jobs(lo, hi int) []river.InsertManyParams {
	from := p.From.UTC()
	to := from
	for range p.Bars {
		to = p.Interval.Next(to)
	}
	out := make([]river.InsertManyParams, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, river.InsertManyParams{Args: collectArgs{
			Symbol: fmt.Sprintf("B%05d", i), Interval: p.Interval, From: from, To: to,
		}})
	}
	return out
}

// insert enqueues the workload with InsertMany, Chunk jobs a call (each
// call its own transaction), and returns how many jobs were inserted.
func insert(ctx context.Context, dbURL string, p insertParams, log *slog.Logger) (int, error) {
	if err := p.validate(); err != nil {
		return 0, err
	}
	pool, err := newPool(dbURL, insertApp, 2)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	if err != nil {
		return 0, fmt.Errorf("river insert-only client: %w", err)
	}
	inserted := 0
	for lo := 0; lo < p.N; lo += p.Chunk {
		hi := min(lo+p.Chunk, p.N)
		res, err := client.InsertMany(ctx, p.jobs(lo, hi))
		if err != nil {
			return inserted, fmt.Errorf("insert jobs %d..%d: %w", lo, hi-1, err)
		}
		inserted += len(res)
	}
	return inserted, nil
}

// work runs a River client working the default queue until ctx ends, then
// stops it with StopAndCancel (jobs still running get a cancelled context
// and are retried later) within stopTimeout. It writes "ready" on ready
// once the client has started. River and the jobs' upserts share one pool.
func work(ctx context.Context, c workConfig, ready io.Writer, log *slog.Logger) error {
	pool, err := newPool(c.DatabaseURL, c.App, c.Pool)
	if err != nil {
		return err
	}
	defer pool.Close()
	src, err := synthetic.New(synthetic.Config{Latency: c.Latency})
	if err != nil {
		return fmt.Errorf("synthetic source: %w", err)
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &collectWorker{src: src, pool: pool}); err != nil {
		return fmt.Errorf("register the collect worker: %w", err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.MaxWorkers}},
		Workers:           workers,
		FetchCooldown:     c.FetchCooldown,     // 0: River's default
		FetchPollInterval: c.FetchPollInterval, // 0: River's default
		Logger:            log,
	})
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	// Start's context would stop the client when cancelled; the stop below
	// is explicit instead.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river client: %w", err)
	}
	if _, err := fmt.Fprintln(ready, "ready"); err != nil {
		err = fmt.Errorf("write ready: %w", err)
		return errors.Join(err, stopClient(client))
	}
	select {
	case <-ctx.Done():
	case <-client.Stopped():
		return errors.New("river client stopped by itself")
	}
	return stopClient(client)
}

func stopClient(client *river.Client[pgx.Tx]) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := client.StopAndCancel(ctx); err != nil {
		return fmt.Errorf("stop river client within %s: %w", stopTimeout, err)
	}
	return nil
}
