package kinds

import (
	"context"
	"time"

	"marketfleet/features"
	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/store"
	"marketfleet/tasks"
)

// KindFeatures recomputes the features of one symbol and interval from the
// start of its window on. Collect tasks enqueue it after they changed
// stored bars.
const KindFeatures tasks.Kind = "features"

// NewFeaturesTask returns a features task for symbol at iv, recomputing from
// the start of [from, to) on (to is the end of the newest bar written).
func NewFeaturesTask(symbol string, iv market.Interval, from, to time.Time, requestedBy string, at time.Time) tasks.Task {
	t := tasks.NewCollect(symbol, iv, from, to, requestedBy, at)
	t.Kind = KindFeatures
	return t
}

// Features is the handler of features tasks. It fetches nothing. Its
// Write reads a series' whole history and may wait for the series'
// features lock, so each task writes in a transaction of its own, after the
// batch's (runner.Separate): a long recompute neither holds up the batch's
// bars nor fails them.
type Features struct {
	runner.Defaults[struct{}]
}

var (
	_ runner.Handler[struct{}] = Features{}
	_ runner.Separate          = Features{}
)

// SeparateTransactions marks Features as runner.Separate.
func (Features) SeparateTransactions() {}

// Kind is KindFeatures.
func (Features) Kind() tasks.Kind { return KindFeatures }

// Write recomputes each job's series from its From on. It is exact: EMAs
// and RSI depend on every earlier bar (see package features), so it reads
// the series' whole history, computes, and writes the rows at or after
// From, including rows after the newest bars written, whose windows and
// averages those bars may change. Unchanged rows are not rewritten, so a
// second run changes nothing.
//
// The series' features lock (store.Tx.LockFeatures) orders two updates of
// one series, and is taken before the bars are read, so the read sees
// every bar committed before the previous update ended. Bars the features
// package refuses fail their job (outcome.Data); a database error is the
// transaction's, which is the job's own (runner.Separate).
func (Features) Write(ctx context.Context, tx *store.Tx, jobs []*runner.Job[struct{}]) error {
	for _, j := range jobs {
		if err := tx.LockFeatures(ctx, j.Series()); err != nil {
			return err
		}
		bars, err := tx.ReadBars(ctx, j.Task.Symbol, j.Task.Interval, j.Task.From, store.AllHistory)
		if err != nil {
			return err
		}
		rows, err := features.Compute(bars)
		if err != nil {
			j.Fail(err)
			continue
		}
		if _, err := tx.WriteFeatures(ctx, features.Since(rows, j.Task.From)); err != nil {
			return err
		}
	}
	return nil
}
