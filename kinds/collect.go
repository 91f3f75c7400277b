package kinds

import (
	"cmp"
	"context"
	"time"

	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/store"
	"marketfleet/tasks"
)

// Collect is the handler of collect tasks (tasks.KindCollect): fetch the
// bars of one symbol and interval whose start lies in the task's window,
// and upsert them, all the batch's bars in one statement. Its Config says
// where the bars come from and whether features follow.
type Collect struct {
	Config
}

// collecting is what one collect task carries from phase to phase.
type collecting struct {
	// from is where fetching starts: the task's From, or later for an
	// incremental task whose series is stored up to then.
	from time.Time
	bars []market.Bar
	// change is what the committed write changed in the series; changed
	// is false when it changed nothing.
	change  store.SeriesChange
	changed bool
}

var _ runner.Handler[collecting] = Collect{}

// Kind is tasks.KindCollect.
func (Collect) Kind() tasks.Kind { return tasks.KindCollect }

// Prepare narrows incremental tasks, in one round trip for the batch: such
// a task starts one bar before the last stored bar of its series (so the
// newest stored bar, which may have been incomplete, is fetched again),
// when that is later than its From. A scheduled run thus fetches two bars
// for an up-to-date series. If the last bars cannot be read, the tasks
// fetch their whole window.
func (c Collect) Prepare(ctx context.Context, db store.Reader, jobs []*runner.Job[collecting]) error {
	var inc []*runner.Job[collecting]
	var series []market.Series
	for _, j := range jobs {
		j.State.from = j.Task.From
		if j.Task.Incremental {
			inc, series = append(inc, j), append(series, j.Series())
		}
	}
	if len(inc) == 0 {
		return nil
	}
	last, err := db.LastBars(ctx, series)
	if err != nil {
		c.Logger.Warn().Err(err).Msg("could not read the last stored bars: fetching whole windows")
		return nil
	}
	for _, j := range inc {
		ts, ok := last[j.Series()]
		if !ok {
			continue
		}
		if from := j.Task.Interval.Floor(ts.Add(-time.Nanosecond)); from.After(j.State.from) {
			j.State.from = from
		}
	}
	return nil
}

// Fetch asks the source for the task's bars (none when the window is
// already stored).
func (c Collect) Fetch(ctx context.Context, j *runner.Job[collecting]) error {
	if !j.State.from.Before(j.Task.To) {
		return nil
	}
	bars, err := c.Source.Bars(ctx, source.Request{Symbol: j.Task.Symbol, Interval: j.Task.Interval, From: j.State.from, To: j.Task.To})
	j.State.bars = bars
	return err
}

// Write upserts the bars of every job in one statement, and records per
// job what changed in its series (a batch holds one task per series).
func (c Collect) Write(ctx context.Context, tx *store.Tx, jobs []*runner.Job[collecting]) error {
	var bars []market.Bar
	for _, j := range jobs {
		bars = append(bars, j.State.bars...)
	}
	res, err := tx.WriteBars(ctx, bars)
	if err != nil {
		return err
	}
	changes := make(map[market.Series]store.SeriesChange, len(res.Series))
	for _, sc := range res.Series {
		changes[sc.Series] = sc
	}
	for _, j := range jobs {
		j.State.change, j.State.changed = changes[j.Series()]
		j.Stored(len(j.State.bars), j.State.change.Rows)
	}
	return nil
}

// FollowUps is the features task of a series whose stored bars changed,
// from the first changed bar on, with the collect task's priority. A
// redelivered task asks for one even when its write changed nothing: an
// earlier delivery may have committed the bars and died before its
// follow-up was stored (the follow-up's message id makes a second one a
// duplicate). A task that changed nothing asks for nothing.
func (c Collect) FollowUps(j *runner.Job[collecting]) []tasks.Task {
	if !c.Features {
		return nil
	}
	var first, last time.Time
	switch {
	case j.State.changed:
		first, last = j.State.change.First, j.State.change.Last
	case j.Delivered > 1 && len(j.State.bars) > 0: // sources return bars oldest first
		first, last = j.State.bars[0].TS, j.State.bars[len(j.State.bars)-1].TS
	default:
		return nil
	}
	ft := NewFeaturesTask(j.Task.Symbol, j.Task.Interval, first, j.Task.Interval.Next(last), cmp.Or(c.RequestedBy, "worker"), time.Now())
	ft.Priority = j.Task.Priority
	return []tasks.Task{ft}
}
