package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
)

// collectKind is the River job kind of a collect task.
const collectKind = "marketfleet_collect"

// jobTimeout bounds one job's fetch and upsert, as the baselines' taskTimeout
// does (River's own default is a minute).
const jobTimeout = 30 * time.Second

// collectArgs is one collect task as a River job: the fields of the
// marketfleet producer's tasks.Task that the work needs. The job's bars are
// those of [From, To) at Interval.
type collectArgs struct {
	Symbol   string          `json:"symbol"`
	Interval market.Interval `json:"interval"`
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
}

// Kind is the job kind River stores in river_job.kind.
func (collectArgs) Kind() string { return collectKind }

// collectWorker does a collect job exactly as the baselines do a task:
// fetch the bars from the synthetic source, then one upsert with the
// worker's statement on the pool, in its own implicit transaction. An error
// fails the attempt and River retries the job on its default schedule.
type collectWorker struct {
	river.WorkerDefaults[collectArgs]
	src  *synthetic.Source
	pool *pgxpool.Pool
}

// Timeout is the job's deadline (jobTimeout).
func (*collectWorker) Timeout(*river.Job[collectArgs]) time.Duration { return jobTimeout }

// Work fetches and upserts the job's bars.
func (w *collectWorker) Work(ctx context.Context, job *river.Job[collectArgs]) error {
	a := job.Args
	bars, err := source.Bars(ctx, w.src, source.Request{Symbol: a.Symbol, Interval: a.Interval, From: a.From, To: a.To})
	if err != nil {
		return fmt.Errorf("fetch %s %s: %w", a.Symbol, a.Interval, err)
	}
	if len(bars) == 0 {
		return nil
	}
	sql, args := store.UpsertStatement(bars)
	if _, err := w.pool.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("upsert %d bars of %s %s: %w", len(bars), a.Symbol, a.Interval, err)
	}
	return nil
}
