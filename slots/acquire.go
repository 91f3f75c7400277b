package slots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LimitFunc turns the published budget (ok false when none is published)
// into the number of slots this worker may try. A worker returns
// min(published, its own FLEET_MAX_SESSIONS), and 1 when nothing is
// published: slot 0 only, whose holder computes and publishes the budget.
type LimitFunc func(published Limit, ok bool) int

// Acquire waits until it holds a slot below the limit and returns its lease.
// It logs one warning when it starts waiting (and an info line when the
// budget it waits under changes), keeps a "wait.<holder>" key alive meanwhile, and tries
// again as soon as the bucket changes (a slot freed, expired, or a new
// budget), or after Poll. It returns ctx's error when ctx ends first; NATS
// errors are logged and retried.
func (t *Table) Acquire(ctx context.Context, holder string, limit LimitFunc) (*Lease, error) {
	value, err := json.Marshal(Holder{Holder: holder, Since: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	changes, stopWatch := t.watch(ctx)
	defer stopWatch()
	var w waiting
	defer w.leave(t, holder)
	for {
		n := t.limit(ctx, limit)
		l, err := t.tryAll(ctx, n, value)
		if l != nil {
			if w.since.IsZero() {
				t.log.Info().Int("slot", l.slot).Int("budget", n).Msg("took a connection slot")
			} else {
				t.log.Info().Int("slot", l.slot).Int("budget", n).Stringer("waited", time.Since(w.since)).Msg("took a connection slot")
			}
			return l, nil
		}
		if err != nil && ctx.Err() == nil {
			t.log.Warn().Err(err).Msg("could not try the connection slots; retrying")
		}
		w.enter(ctx, t, holder, n, value)
		poll := t.cfg.Poll/2 + rand.N(t.cfg.Poll/2+1)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a connection slot: %w", ctx.Err())
		case <-changes:
		case <-time.After(poll):
		}
	}
}

// limit asks fn for the number of slots under the published budget.
func (t *Table) limit(ctx context.Context, fn LimitFunc) int {
	l, ok, err := t.CurrentLimit(ctx)
	if err != nil {
		t.log.Debug().Err(err).Msg("read the published budget")
	}
	return fn(l, ok)
}

// tryAll tries to create slot 0, 1, ... n-1 in order: the lowest free slot
// is taken, so slot 0 (the one that publishes the budget) is never left
// empty while a worker waits.
func (t *Table) tryAll(ctx context.Context, n int, value []byte) (*Lease, error) {
	for i := range n {
		sent := time.Now()
		rev, err := t.kv.Create(ctx, slotKey(i), value, jetstream.KeyTTL(t.cfg.TTL))
		switch {
		case err == nil:
			return newLease(t, i, value, rev, sent), nil
		case errors.Is(err, jetstream.ErrKeyExists):
			continue
		default:
			return nil, err
		}
	}
	return nil, nil
}

// watch signals the changes that can let a waiting worker in: a slot
// deleted or expired, and a newly published budget (renewals, the bulk of
// the traffic, are not signalled). The channel holds one pending signal;
// more are merged.
func (t *Table) watch(ctx context.Context) (<-chan struct{}, func()) {
	changes := make(chan struct{}, 1)
	w, err := t.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.log.Debug().Err(err).Msg("watch the slot bucket; polling instead")
		return changes, func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil || (e.Operation() == jetstream.KeyValuePut && e.Key() != t.limitKey()) {
				continue
			}
			select {
			case changes <- struct{}{}:
			default:
			}
		}
	}()
	return changes, func() { _ = w.Stop(); <-done }
}

// waiting is a worker's time in the queue for a slot: its log lines and its
// visible "wait.<holder>" key.
type waiting struct {
	since   time.Time
	budget  int
	renewed time.Time
}

func (w *waiting) enter(ctx context.Context, t *Table, holder string, n int, value []byte) {
	switch {
	case w.since.IsZero():
		w.since, w.budget = time.Now(), n
		ev := t.log.Warn().Int("budget", n)
		if st, err := t.State(ctx); err == nil {
			ev = ev.Int("held", len(st.Held)).Int("waiting", len(st.Waiting))
		}
		ev.Msg("waiting for a connection slot: every slot of the budget is taken (this replica stays ready to take over)")
	case n != w.budget:
		w.budget = n
		t.log.Info().Int("budget", n).Msg("the connection budget changed; still waiting for a slot")
	}
	if time.Since(w.renewed) < t.cfg.TTL/3 {
		return
	}
	if _, err := t.put(ctx, waitPrefix+holder, value, t.cfg.TTL, nil); err == nil {
		w.renewed = time.Now()
	}
}

func (w *waiting) leave(t *Table, holder string) {
	if w.since.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = t.kv.Delete(ctx, waitPrefix+holder)
}
