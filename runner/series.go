package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/store"
	"marketfleet/tasks"
)

// ErrBusy is wrapped by the error of a task whose series another task holds
// (on another worker, or earlier in the same batch): two tasks of one symbol
// and interval never run at the same time in the fleet. Transient: the task
// is retried after a short delay.
var ErrBusy = outcome.Mark(outcome.Busy, errors.New("another task of this series is running"))

// lock takes the fleet-wide lock of every ok item's series, from scratch
// (after a lost session the old locks are gone). An item whose series is
// held elsewhere, by an earlier item of the batch, or in busy (the series of
// this worker's other batch in flight) gets ErrBusy.
func (r *Runner) lock(ctx context.Context, items []*item, busy map[market.Series]bool) {
	var want []*item
	var series []market.Series
	seen := map[market.Series]bool{}
	for _, it := range items {
		it.locked = false
		if !it.ok() {
			continue
		}
		s := it.series()
		if seen[s] {
			it.err = fmt.Errorf("%s %s: %w (earlier in the same batch)", it.task.Kind, s, ErrBusy)
			continue
		}
		if busy[s] {
			it.err = fmt.Errorf("%s %s: %w (in this worker's previous batch)", it.task.Kind, s, ErrBusy)
			continue
		}
		seen[s] = true
		want, series = append(want, it), append(series, s)
	}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	took, err := r.db.LockSeries(lctx, series)
	cancel()
	session := r.db.Opened()
	for i, it := range want {
		switch {
		case err != nil:
			it.err = fmt.Errorf("%s %s: %w", it.task.Kind, it.series(), err)
		case took[i]:
			it.locked, it.lockedIn = true, session
		default:
			it.err = fmt.Errorf("%s %s: %w", it.task.Kind, it.series(), ErrBusy)
		}
	}
}

// unlock releases the batch's series locks, once its database work is done.
// Locks of a session that is gone died with it. Locks it fails to release
// on a session that stays up are released with the next batch's.
func (r *Runner) unlock(ctx context.Context, items []*item) {
	cur := r.db.Opened()
	var series []market.Series
	if r.unreleased.session == cur {
		series = r.unreleased.series
	}
	r.unreleased.series = nil
	for _, it := range items {
		if it.locked && it.lockedIn == cur {
			series = append(series, it.series())
		}
		it.locked = false
	}
	if len(series) == 0 {
		return
	}
	uctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	if err := r.db.UnlockSeries(uctx, series); err != nil {
		r.unreleased.session, r.unreleased.series = cur, series
		r.log.Warn().Err(err).Msg("could not release the series locks; the next batch releases them")
	}
}

// narrow starts each incremental collect task at the last stored bar of its
// series, one bar of overlap included (the newest stored bar may have been
// incomplete), when that is later than the task's From. One round trip for
// the batch. If it fails, the tasks fetch their whole window.
func (r *Runner) narrow(ctx context.Context, items []*item) {
	var inc []*item
	var series []market.Series
	for _, it := range items {
		if it.ok() && it.task.Incremental {
			inc, series = append(inc, it), append(series, it.series())
		}
	}
	if len(inc) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	last, err := r.db.LastBars(lctx, series)
	if err != nil {
		r.log.Warn().Err(err).Msg("could not read the last stored bars: fetching whole windows")
		return
	}
	for _, it := range inc {
		ts, ok := last[it.series()]
		if !ok {
			continue
		}
		if from := it.task.Interval.Floor(ts.Add(-time.Nanosecond)); from.After(it.from) {
			it.from = from
		}
	}
}

// updateFeatures runs the batch's features tasks, each in its own
// transaction (store.UpdateFeatures), under their series locks.
func (r *Runner) updateFeatures(ctx context.Context, items []*item) {
	for _, it := range items {
		if !it.ok() || it.task.Kind != tasks.KindFeatures {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		_, err := r.db.UpdateFeatures(wctx, it.task.Symbol, it.task.Interval, it.task.From)
		cancel()
		if err != nil {
			it.err = fmt.Errorf("%s %s: %w", it.task.Kind, it.series(), err)
		}
	}
}

// followUp enqueues a features task for every collect task that changed
// stored bars, from its first changed bar on, with the collect task's
// priority. A redelivered collect task enqueues one even when its write
// changed nothing: an earlier delivery may have committed the bars and
// failed before its follow-up was enqueued. The follow-ups are confirmed
// before the collect tasks are acknowledged; if they cannot be, those tasks
// are retried (their rewrite changes nothing, and the follow-up's message id
// makes a second one a duplicate).
func (r *Runner) followUp(ctx context.Context, items []*item, changes []store.SeriesChange) {
	if r.cfg.FollowUps == nil {
		return
	}
	changed := make(map[market.Series]store.SeriesChange, len(changes))
	for _, c := range changes {
		changed[c.Series] = c
	}
	var fts []tasks.Task
	var owners []*item
	now := time.Now()
	for _, it := range items {
		if !it.ok() || it.task.Kind != tasks.KindCollect {
			continue
		}
		first, last, ok := followUpWindow(it, changed)
		if !ok {
			continue
		}
		ft := tasks.NewFeatures(it.task.Symbol, it.task.Interval, first, it.task.Interval.Next(last), "worker/"+r.cfg.WorkerID, now)
		ft.Priority = it.task.Priority
		fts, owners = append(fts, ft), append(owners, it)
	}
	if len(fts) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout) // the locks are held meanwhile
	defer cancel()
	if _, err := r.cfg.FollowUps.Publish(pctx, fts); err != nil {
		for _, it := range owners {
			it.err = fmt.Errorf("%s %s: enqueue features: %w", it.task.Kind, it.series(), err)
		}
	}
}

// followUpWindow is the span of bars a features follow-up must start from.
func followUpWindow(it *item, changed map[market.Series]store.SeriesChange) (first, last time.Time, ok bool) {
	if c, hit := changed[it.series()]; hit {
		return c.First, c.Last, true
	}
	if it.delivered <= 1 || len(it.bars) == 0 {
		return first, last, false
	}
	// Sources return bars oldest first.
	return it.bars[0].TS, it.bars[len(it.bars)-1].TS, true
}
