package runner

import (
	"context"
	"fmt"
	"slices"

	"marketfleet/outcome"
	"marketfleet/store"
)

// maxReplays bounds how often one batch is replayed on a new session.
const maxReplays = 5

// write does the database work of every item still ok: the Write phase of
// each kind, in registration order, in one transaction for the batch; then
// each job of a Separate kind in a transaction of its own.
func (r *Runner) write(ctx context.Context, items []*item) {
	shared := slices.DeleteFunc(slices.Clone(items), func(it *item) bool { return !it.ok() || it.kind.separate() })
	r.writeShared(ctx, items, shared)
	for _, it := range items {
		if it.ok() && it.kind.separate() {
			r.writeAlone(ctx, it)
		}
	}
}

// writeShared writes the shared items in one transaction. If the
// transaction fails for a reason that belongs to one task (data the
// database refuses, a panic), it writes them one at a time, each in its own
// transaction, so that only the task at fault fails; any other failure
// fails them all (they are retried later).
func (r *Runner) writeShared(ctx context.Context, items, shared []*item) {
	if len(shared) == 0 {
		r.relock(ctx, items) // a Separate write still needs the locks
		return
	}
	err := r.writeReplaying(ctx, items, shared)
	shared = slices.DeleteFunc(shared, func(it *item) bool { return !it.ok() }) // relocking may have failed some
	switch {
	case err == nil:
		for _, it := range shared {
			it.committed = it.ok() // a Write may have failed its job alone
		}
	case !outcome.Of(err).DeadLetter() || len(shared) == 1:
		for _, it := range shared {
			it.fail(err)
		}
	default:
		for _, it := range shared {
			r.writeAlone(ctx, it)
		}
	}
}

// writeAlone writes one item in a transaction of its own, within
// WriteTimeout, failing it on any error.
func (r *Runner) writeAlone(ctx context.Context, it *item) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	committed, err := r.writeOnce(ctx, []*item{it}, r.cfg.Faults)
	if committed {
		r.cfg.Faults.afterCommit(ctx)
	}
	it.fail(err)
	it.committed = it.ok()
}

// writeReplaying writes the shared items in one transaction. If that fails
// because the session was lost (terminated backend, restart, network, a
// client-side timeout), nothing was committed, or the commit's fate is
// unknown: it reconnects (with backoff and jitter, closing the old session
// first), takes the series locks of the batch's items again (the old
// session's died with it; an item whose series another worker took
// meanwhile is left out and retried later), and replays the transaction,
// which is safe because every Write is idempotent. Messages stay covered by
// InProgress meanwhile. Other errors are returned at once.
func (r *Runner) writeReplaying(ctx context.Context, items, shared []*item) error {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReplayWindow)
	defer cancel()
	for replay := 0; ; replay++ {
		if err := r.relockIn(rctx, items); err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		committed, err := r.writeOnce(wctx, shared, r.cfg.Faults)
		wcancel()
		if committed {
			r.cfg.Faults.afterCommit(ctx)
		}
		if err == nil || r.db.Up() || replay == maxReplays {
			return err
		}
		r.log.Warn().Uint64("batch", items[0].batch).Int("replay", replay+1).Err(err).
			Msg("postgres session lost mid-batch: reconnecting to replay the batch")
	}
}

// relock takes the batch's series locks again if the session they were
// taken in is gone, within the replay window; without a session, the items
// still ok fail.
func (r *Runner) relock(ctx context.Context, items []*item) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReplayWindow)
	defer cancel()
	if err := r.relockIn(rctx, items); err != nil {
		for _, it := range items {
			it.fail(err)
		}
	}
}

// relockIn takes the series locks of items again when the session they
// were taken in is gone (lost during a write, or while the batch fetched).
func (r *Runner) relockIn(ctx context.Context, items []*item) error {
	if !r.locksLost(items) {
		return nil
	}
	if err := r.db.EnsureSession(ctx); err != nil {
		return fmt.Errorf("replay batch: no new session within %s: %w", r.cfg.ReplayWindow, err)
	}
	r.lock(ctx, items, nil)
	return nil
}

// writeOnce runs the Write phase of every kind for the items still ok in
// one transaction, each call behind the panic barrier, and commits. It
// reports whether a transaction was committed: none is begun when no Write
// ran a statement.
func (r *Runner) writeOnce(ctx context.Context, items []*item, faults Faults) (committed bool, err error) {
	var begun bool
	err = r.db.InTx(ctx, func(tx *store.Tx) error {
		for _, group := range r.byKind(items) {
			k := group[0].kind
			if err := guard(func() error { return k.write(ctx, tx, group) }); err != nil {
				return err
			}
		}
		if begun = tx.Begun(); begun {
			faults.beforeCommit(ctx)
		}
		return nil
	})
	return begun && err == nil, err
}

// locksLost reports whether an item holds its series lock in an epoch that
// is over (a session that is gone, a lease that expired).
func (r *Runner) locksLost(items []*item) bool {
	cur := r.locks.Epoch()
	return slices.ContainsFunc(items, func(it *item) bool { return it.locked && it.lockedIn != cur })
}
