package runner

import (
	"context"
	"fmt"

	"marketfleet/market"
)

// lock takes the fleet-wide lock of every ok item's series, from scratch
// (after a lost session the old locks are gone). An item whose series is
// held elsewhere, by an earlier item of the batch, or in busy (the series of
// this worker's other batches in flight) fails with ErrBusy.
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
		switch {
		case seen[s]:
			it.fail(fmt.Errorf("%w (earlier in the same batch)", ErrBusy))
		case busy[s]:
			it.fail(fmt.Errorf("%w (in this worker's previous batch)", ErrBusy))
		default:
			seen[s] = true
			want, series = append(want, it), append(series, s)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	took, err := r.locks.LockSeries(lctx, series)
	cancel()
	session := r.locks.Epoch()
	for i, it := range want {
		switch {
		case err != nil:
			it.fail(err)
		case took[i]:
			it.locked, it.lockedIn = true, session
		default:
			it.fail(ErrBusy)
		}
	}
}

// unlock releases the batch's series locks, once its database work is done.
// Locks of an earlier epoch (a session that is gone) died with it. Locks it fails to release
// on a session that stays up are released with the next batch's.
func (r *Runner) unlock(ctx context.Context, items []*item) {
	cur := r.locks.Epoch()
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
	if err := r.locks.UnlockSeries(uctx, series); err != nil {
		r.unreleased.session, r.unreleased.series = cur, series
		r.log.Warn().Err(err).Msg("could not release the series locks; the next batch releases them")
	}
}
