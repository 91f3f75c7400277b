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

// write does the database work of every item still ok: each kind's Write
// phase, in registration order, in one transaction. If the transaction
// fails for a reason that belongs to one task (data the database refuses, a
// panic), it writes the items one at a time, each in its own transaction,
// so that only the task at fault fails; any other failure fails them all
// (they are retried later).
func (r *Runner) write(ctx context.Context, items []*item) {
	ok := slices.DeleteFunc(slices.Clone(items), func(it *item) bool { return !it.ok() })
	err := r.writeReplaying(ctx, items)
	if err == nil {
		for _, it := range ok {
			it.committed = it.ok() // a Write may have failed its job alone
		}
		return
	}
	ok = slices.DeleteFunc(ok, func(it *item) bool { return !it.ok() })
	if !outcome.Of(err).DeadLetter() || len(ok) == 1 {
		for _, it := range ok {
			it.fail(err)
		}
		return
	}
	for _, it := range ok {
		wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		_, err := r.writeOnce(wctx, []*item{it}, Faults{})
		cancel()
		it.fail(err)
		it.committed = it.ok()
	}
}

// writeReplaying writes the items in one transaction. If that fails because
// the session was lost (terminated backend, restart, network, a client-side
// timeout), nothing was committed, or the commit's fate is unknown: it
// reconnects (with backoff and jitter, closing the old session first),
// takes the series locks again (the old session's died with it; an item
// whose series another worker took meanwhile is left out and retried
// later), and replays the batch, which is safe because every Write is
// idempotent. Messages stay covered by InProgress meanwhile. Other errors
// are returned at once.
func (r *Runner) writeReplaying(ctx context.Context, items []*item) error {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReplayWindow)
	defer cancel()
	for replay := 0; ; replay++ {
		if r.locksLost(items) {
			// The session the locks were taken in is gone (lost during this
			// write, or while the batch fetched): take them again on a new one.
			if err := r.db.EnsureSession(rctx); err != nil {
				return fmt.Errorf("replay batch: no new session within %s: %w", r.cfg.ReplayWindow, err)
			}
			r.lock(rctx, items, nil)
		}
		wctx, wcancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		committed, err := r.writeOnce(wctx, items, r.cfg.Faults)
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

// locksLost reports whether an item holds its series lock in a session that
// is gone.
func (r *Runner) locksLost(items []*item) bool {
	up, cur := r.db.Up(), r.db.Opened()
	return slices.ContainsFunc(items, func(it *item) bool { return it.locked && (!up || it.lockedIn != cur) })
}
