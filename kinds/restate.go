package kinds

import (
	"cmp"
	"context"
	"time"

	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/store"
	"marketfleet/tasks"
)

// KindRestate applies to one series' stored bars the corporate actions of
// its symbol not applied to it yet. Collect tasks enqueue it when an answer
// reveals such an action.
const KindRestate tasks.Kind = "restate"

// NewRestateTask returns a restate task for series whose window is the day
// from day: for a collect task's follow-up the ex-date of the newest action
// of its answer, for the sweep the day it runs. The task applies every
// pending action whatever its window, which only keys its message id, so
// that two answers revealing the same action enqueue it once.
func NewRestateTask(series market.Series, day time.Time, requestedBy string, at time.Time) tasks.Task {
	day = day.UTC().Truncate(24 * time.Hour)
	t := tasks.NewCollect(series.Symbol, series.Interval, day, day.Add(24*time.Hour), requestedBy, at)
	t.Kind = KindRestate
	return t
}

// Restate is the handler of restate tasks: store.Tx.Restate on the task's
// series, in a transaction of its own (runner.Separate: one transaction per
// series, which the runner's series lock keeps apart from the series'
// collect tasks; bars of an answer made before an action took effect that
// are written after all are brought to its units by store.Tx.WriteBars).
// It fetches nothing.
type Restate struct {
	runner.Defaults[restating]
	Config
}

// restating is what one restate task carries to its follow-ups.
type restating struct {
	done []store.Restatement
}

var (
	_ runner.Handler[restating] = Restate{}
	_ runner.Separate           = Restate{}
)

// SeparateTransactions marks Restate as runner.Separate.
func (Restate) SeparateTransactions() {}

// Kind is KindRestate.
func (Restate) Kind() tasks.Kind { return KindRestate }

// Write restates each job's series. An action that cannot be applied (a
// distribution not below the close it is paid from) is recorded as refused
// and the others go on (store.Restatement.Refused); a database error fails
// the job, whose transaction is its own, and it is retried.
func (Restate) Write(ctx context.Context, tx *store.Tx, jobs []*runner.Job[restating]) error {
	for _, j := range jobs {
		done, err := tx.Restate(ctx, j.Series())
		if err != nil {
			return err
		}
		j.State.done = done
		var bars int64
		for _, r := range done {
			bars += r.Bars
		}
		j.Stored(int(bars), bars)
	}
	return nil
}

// FollowUps reports each restatement, refused ones included
// (Config.Restated), and asks for the
// series' features from the first restated bar on, with the task's
// priority. A redelivered task that found nothing left to do asks for the
// whole series' features: its first delivery may have restated and died
// before enqueueing them.
func (r Restate) FollowUps(j *runner.Job[restating]) []tasks.Task {
	var first time.Time
	for _, d := range j.State.done {
		if r.Restated != nil {
			r.Restated(d)
		}
		if d.Bars > 0 && (first.IsZero() || d.First.Before(first)) {
			first = d.First
		}
	}
	if first.IsZero() && j.Delivered > 1 {
		first = tasks.Earliest
	}
	if !r.Features || first.IsZero() {
		return nil
	}
	ft := NewFeaturesTask(j.Task.Symbol, j.Task.Interval, first, j.Task.Interval.Next(first), cmp.Or(r.RequestedBy, "worker"), time.Now())
	ft.Priority = j.Task.Priority
	return []tasks.Task{ft}
}
