package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/tasks"
)

// A batch is the tasks of one pull, taken from delivery to settlement in
// two halves. begin decodes them, locks each task's series fleet-wide,
// lets each kind prepare its jobs and starts their fetches; finish waits
// for the fetches, writes the whole batch in one transaction, releases the
// locks and hands the batch to the settler, which enqueues follow-ups and
// then acks, naks or dead-letters every message exactly once (settle.go).
// Run begins the next batch before it finishes the current one, so the
// next batch's fetches (network only) overlap this batch's database work;
// the session is only ever used from Run's goroutine.
type batch struct {
	num          uint64
	items        []*item
	start        time.Time
	ctx          context.Context
	cancel       context.CancelFunc
	stopProgress func()
	fetched      chan struct{} // closed when every fetch of the batch is done
}

// item is one message of a batch and what became of it.
type item struct {
	msg       jetstream.Msg
	stream    string    // the task stream's name
	seq       uint64    // stream sequence
	delivered uint64    // delivery count, 1 on first delivery
	published time.Time // when the stream stored the message
	batch     uint64    // the batch's number, for logs
	task      tasks.Task
	kind      kind  // nil when the envelope did not decode or names no registered kind
	job       job   // the kind's *Job[S], nil without a kind: it then holds the failure
	err       error // the failure of an item without a job
	locked    bool  // holds its series lock
	lockedIn  int   // the lock epoch (Locker.Epoch) it was locked in
	committed bool  // its Write is committed
	settled   time.Time
	act       action
	class     outcome.Class // the error class, "" when applied
	retryAt   time.Time     // when a retried item may be delivered again
}

func (it *item) ok() bool { return it.failure() == nil }

// failure is the item's error, nil while it is ok.
func (it *item) failure() error {
	if it.job != nil {
		return it.job.Err()
	}
	return it.err
}

func (it *item) series() market.Series {
	return market.Series{Symbol: it.task.Symbol, Interval: it.task.Interval}
}

// fail records the item's first failure (Job.Fail).
func (it *item) fail(err error) {
	switch {
	case it.job != nil:
		it.job.Fail(err)
	case it.err == nil:
		it.err = err
	}
}

// begin starts a batch of msgs. busy are the series the batches in flight
// hold: a task of one of those is busy, as another worker's would be.
func (r *Runner) begin(ctx context.Context, msgs []jetstream.Msg, busy map[market.Series]bool) *batch {
	r.batches++
	b := &batch{num: r.batches, start: time.Now(), fetched: make(chan struct{})}
	b.ctx, b.cancel = r.batchContext(ctx)
	b.stopProgress = r.progress(msgs)
	b.items = r.decode(msgs, b.num)
	r.lock(b.ctx, b.items, busy)
	r.prepare(b.ctx, b.items)
	go func() {
		defer close(b.fetched)
		r.fetchAll(b.ctx, b.items)
	}()
	return b
}

// held returns the series whose locks b holds.
func (b *batch) held() map[market.Series]bool {
	out := make(map[market.Series]bool, len(b.items))
	for _, it := range b.items {
		if it.locked {
			out[it.series()] = true
		}
	}
	return out
}

// finish waits for b's fetches and does b's database work: one transaction
// for the whole batch, then the locks are released. Then it hands b to the
// settler (follow-ups, then ack, nak or term), which runs while the loop
// goes on, one batch at a time: the acks wait for the server, the session
// need not.
func (r *Runner) finish(b *batch) {
	<-b.fetched
	r.write(b.ctx, b.items)
	r.unlock(b.ctx, b.items) // the database work is done: a slow follow-up must not hold the series
	r.joinSettled()
	st := &settling{b: b, done: make(chan struct{})}
	r.settling = st
	go func() {
		defer close(st.done)
		r.followUp(b.ctx, b.items)
		b.stopProgress()
		st.counts = r.settle(b.ctx, b.items)
	}()
}

// settling is a batch whose messages are being settled.
type settling struct {
	b      *batch
	counts map[action]int // set by the settler before done is closed
	done   chan struct{}
}

// joinSettled waits for the batch being settled, if any, and reports it.
func (r *Runner) joinSettled() {
	s := r.settling
	if s == nil {
		return
	}
	<-s.done
	r.settling = nil
	b := s.b
	b.cancel()
	r.log.Debug().Uint64("batch", b.num).Int("tasks", len(b.items)).
		Int("ok", s.counts[actAck]).Int("retried", s.counts[actRetry]).Int("terminated", s.counts[actTerm]).
		Stringer("took", time.Since(b.start)).Msg("batch done")
	r.observe(b.items, b.start)
}

// decode turns messages into items: the envelope (tasks.Decode), and the
// job of its kind's handler. An envelope that does not decode, or names a
// kind this worker has no handler for, fails as invalid.
func (r *Runner) decode(msgs []jetstream.Msg, batch uint64) []*item {
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		it := &item{msg: m, batch: batch}
		if md, err := m.Metadata(); err == nil {
			it.stream, it.seq, it.delivered, it.published = md.Stream, md.Sequence.Stream, md.NumDelivered, md.Timestamp
		}
		items[i] = it
		err := guard(func() (err error) {
			it.task, err = tasks.Decode(m.Data())
			return err
		})
		if err != nil {
			it.err = err
			continue
		}
		if it.kind = r.kinds.lookup(it.task.Kind); it.kind == nil {
			it.err = outcome.Mark(outcome.Invalid, fmt.Errorf("invalid task: kind %q: this worker runs %v", it.task.Kind, r.kinds.Kinds()))
			continue
		}
		it.job = it.kind.newJob(it.task, it.delivered)
	}
	return items
}

// byKind groups the items still ok by kind, in registration order.
func (r *Runner) byKind(items []*item) [][]*item {
	var out [][]*item
	for _, k := range r.kinds.kinds {
		var group []*item
		for _, it := range items {
			if it.ok() && it.kind == k {
				group = append(group, it)
			}
		}
		if len(group) > 0 {
			out = append(out, group)
		}
	}
	return out
}

// prepare runs each kind's Prepare phase on its jobs. A panic there is
// isolated: Prepare runs again for each job alone, so that only the job
// that panics fails.
func (r *Runner) prepare(ctx context.Context, items []*item) {
	for _, group := range r.byKind(items) {
		k := group[0].kind
		call := func(items []*item) error {
			pctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
			defer cancel()
			return guard(func() error { return k.prepare(pctx, r.db, items) })
		}
		err := call(group)
		if outcome.Of(err) == outcome.Panic && len(group) > 1 {
			for _, it := range group {
				it.fail(call([]*item{it}))
			}
			continue
		}
		for _, it := range group {
			it.fail(err)
		}
	}
}

// fetchAll runs the Fetch phase of every item still ok, each in its own
// goroutine behind the panic barrier. The runner's fetch slots bound the
// fetches in flight across batches to FetchConcurrency. A failed fetch
// fails only its own item.
func (r *Runner) fetchAll(ctx context.Context, items []*item) {
	var wg sync.WaitGroup
	for _, it := range items {
		if !it.ok() {
			continue
		}
		wg.Go(func() {
			select {
			case r.fetchSlots <- struct{}{}:
			case <-ctx.Done():
				it.fail(ctx.Err())
				return
			}
			defer func() { <-r.fetchSlots }()
			it.fail(guard(func() error { return it.kind.fetch(ctx, it) }))
		})
	}
	wg.Wait()
}
