package runner

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/dlq"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/source"
	"marketfleet/store"
	"marketfleet/tasks"
)

// maxReasonLen caps the reason sent with TermWithReason.
const maxReasonLen = 200

// item is one message of a batch and what became of it.
type item struct {
	msg       jetstream.Msg
	seq       uint64 // stream sequence
	delivered uint64 // delivery count, 1 on first delivery
	task      tasks.Task
	from      time.Time // where a collect task starts fetching (incremental: later than task.From)
	bars      []market.Bar
	batch     uint64        // the batch's number, for logs
	locked    bool          // holds its series lock
	lockedIn  int           // the session (store Opened count) it was locked in
	err       error         // nil: apply; else the reason it cannot be applied now
	published time.Time     // when the stream stored the message
	settled   time.Time     // when its settlement was sent
	act       action        // what settle did
	class     outcome.Class // the error class, "" when applied
}

func (it *item) ok() bool { return it.err == nil }

func (it *item) series() market.Series {
	return market.Series{Symbol: it.task.Symbol, Interval: it.task.Interval}
}

// batch is a batch of tasks taken from delivery to settlement in two
// halves: begin (decode, lock each task's series fleet-wide, narrow
// incremental tasks, start fetching) and finish (wait for the fetches, write
// the bars in one transaction, update features, unlock, enqueue follow-ups,
// then ack, nak or term every message exactly once). Run begins the next
// batch before it finishes the current one, so the next batch's source
// fetches (network I/O only) overlap the current batch's database work; the
// session is only ever used from Run's goroutine.
type batch struct {
	num          uint64
	items        []*item
	start        time.Time
	ctx          context.Context
	cancel       context.CancelFunc
	stopProgress func()
	fetched      chan struct{} // closed when every fetch of the batch is done
}

// begin starts a batch of msgs. busy are the series the batch in flight
// holds: a task of one of those gets ErrBusy, as another worker's would.
func (r *Runner) begin(ctx context.Context, msgs []jetstream.Msg, busy map[market.Series]bool) *batch {
	r.batches++
	b := &batch{num: r.batches, start: time.Now(), fetched: make(chan struct{})}
	b.ctx, b.cancel = r.batchContext(ctx)
	b.stopProgress = r.progress(msgs)
	b.items = decodeAll(msgs, b.num)
	r.lock(b.ctx, b.items, busy)
	r.narrow(b.ctx, b.items)
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

// finish waits for b's fetches and does b's database work: write, features,
// unlock. Then it hands b to the settler (follow-ups, then ack, nak or
// term), which runs while the loop goes on, one batch at a time: the acks
// wait for the server, the session need not.
func (r *Runner) finish(b *batch) {
	<-b.fetched
	changes, written := r.write(b.ctx, b.items)
	r.updateFeatures(b.ctx, b.items)
	r.unlock(b.ctx, b.items) // the database work is done: a slow follow-up must not hold the series
	r.joinSettled()
	st := &settling{b: b, changes: changes, written: written, done: make(chan struct{})}
	r.settling = st
	go func() {
		defer close(st.done)
		r.followUp(b.ctx, b.items, changes)
		b.stopProgress()
		st.counts = r.settle(b.ctx, b.items)
	}()
}

// settling is a batch whose messages are being settled.
type settling struct {
	b       *batch
	changes []store.SeriesChange
	written int
	counts  map[action]int // set by the settler before done is closed
	done    chan struct{}
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
	r.log.Debug().Uint64("batch", b.num).Int("tasks", len(b.items)).Int("bars", s.written).
		Int("ok", s.counts[actAck]).Int("retried", s.counts[actRetry]).Int("terminated", s.counts[actTerm]).
		Dur("took", time.Since(b.start)).Msg("batch done")
	r.observe(b.items, b.start, s.written, s.changes)
}

func decodeAll(msgs []jetstream.Msg, batch uint64) []*item {
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		it := &item{msg: m, batch: batch}
		if md, err := m.Metadata(); err == nil {
			it.seq, it.delivered, it.published = md.Sequence.Stream, md.NumDelivered, md.Timestamp
		}
		it.task, it.err = tasks.Decode(m.Data())
		it.from = it.task.From
		items[i] = it
	}
	return items
}

// fetchAll fetches the bars of every collect task still ok. The runner's
// fetch slots bound the fetches in flight across batches to
// FetchConcurrency. A failed fetch marks only its own item.
func (r *Runner) fetchAll(ctx context.Context, items []*item) {
	var wg sync.WaitGroup
	for _, it := range items {
		if !it.ok() || it.task.Kind != tasks.KindCollect || !it.from.Before(it.task.To) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := it.task
			select {
			case r.fetchSlots <- struct{}{}:
			case <-ctx.Done():
				it.err = fmt.Errorf("%s %s %s: %w", t.Kind, t.Symbol, t.Interval, ctx.Err())
				return
			}
			bars, err := r.src.Bars(ctx, source.Request{Symbol: t.Symbol, Interval: t.Interval, From: it.from, To: t.To})
			<-r.fetchSlots
			if err != nil {
				it.err = fmt.Errorf("%s %s %s: %w", t.Kind, t.Symbol, t.Interval, err)
				return
			}
			it.bars = bars
		}()
	}
	wg.Wait()
}

// write upserts the bars of every item still ok in one transaction and
// returns what changed per series and the number of bars committed. If the
// database refuses the data, it writes the items one by one so that only
// the offending task fails.
func (r *Runner) write(ctx context.Context, items []*item) ([]store.SeriesChange, int) {
	res, n, err := r.writeReplaying(ctx, items)
	if err == nil {
		if n > 0 {
			r.cfg.Faults.afterCommit(ctx)
		}
		return res.Series, n
	}
	ok := withBars(items)
	if act, _ := classify(err); act != actTerm || len(ok) == 1 {
		for _, it := range ok {
			it.err = fmt.Errorf("%s %s: %w", it.task.Kind, it.task.Symbol, err)
		}
		return nil, 0
	}
	var changes []store.SeriesChange
	written := 0
	for _, it := range ok {
		res, err := r.writeBars(ctx, it.bars, Faults{})
		if err != nil {
			it.err = fmt.Errorf("%s %s: %w", it.task.Kind, it.task.Symbol, err)
			continue
		}
		changes = append(changes, res.Series...)
		written += len(it.bars)
	}
	return changes, written
}

// withBars returns the items still ok that have bars to write.
func withBars(items []*item) []*item {
	var out []*item
	for _, it := range items {
		if it.ok() && len(it.bars) > 0 {
			out = append(out, it)
		}
	}
	return out
}

// maxReplays bounds how often one batch is replayed on a new session.
const maxReplays = 5

// writeReplaying writes the bars of the items in one transaction. If the
// write fails because the session was lost (terminated backend, restart,
// network, a client-side timeout), nothing was committed, or the commit's
// fate is unknown: it reconnects (with backoff and jitter, closing the old
// session first), takes the series locks again (the old session's died with
// it; an item whose series another worker took meanwhile is left out and
// retried later), and replays the batch, which is safe because the upsert
// is idempotent. Messages stay covered by InProgress meanwhile. Other errors
// are returned at once.
func (r *Runner) writeReplaying(ctx context.Context, items []*item) (store.WriteResult, int, error) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.ReplayWindow)
	defer cancel()
	for replay := 0; ; replay++ {
		if r.locksLost(items) {
			// The session the locks were taken in is gone (lost during this
			// write, or while the batch fetched): take them again on a new one.
			if err := r.db.EnsureSession(rctx); err != nil {
				return store.WriteResult{}, 0, fmt.Errorf("replay batch: no new session within %s: %w", r.cfg.ReplayWindow, err)
			}
			r.lock(rctx, items, nil)
		}
		var bars []market.Bar
		for _, it := range withBars(items) {
			bars = append(bars, it.bars...)
		}
		if len(bars) == 0 {
			return store.WriteResult{}, 0, nil
		}
		wctx, wcancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		res, err := r.writeBars(wctx, bars, r.cfg.Faults)
		wcancel()
		if err == nil || r.db.Up() || replay == maxReplays {
			return res, len(bars), err
		}
		r.log.Warn().Uint64("batch", items[0].batch).Int("replay", replay+1).Err(err).
			Msg("postgres session lost mid-batch: reconnecting to replay the batch")
	}
}

// writeBars upserts bars in one transaction, pausing at faults.
func (r *Runner) writeBars(ctx context.Context, bars []market.Bar, faults Faults) (store.WriteResult, error) {
	var res store.WriteResult
	err := r.db.InTx(ctx, func(tx *store.Tx) (err error) {
		if res, err = tx.WriteBars(ctx, bars); err == nil {
			faults.beforeCommit(ctx)
		}
		return err
	})
	return res, err
}

// locksLost reports whether an item holds its series lock in a session that
// is gone.
func (r *Runner) locksLost(items []*item) bool {
	up, cur := r.db.Up(), r.db.Opened()
	return slices.ContainsFunc(items, func(it *item) bool { return it.locked && (!up || it.lockedIn != cur) })
}

// settle acks, naks or dead-letters every item, all concurrently (each is
// a round trip to the server). It returns how many took each action.
func (r *Runner) settle(ctx context.Context, items []*item) map[action]int {
	counts := map[action]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			act := r.settleOne(ctx, it)
			it.act, it.settled = act, time.Now()
			mu.Lock()
			counts[act]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return counts
}

// settleOne carries out the decision on one item and returns what it did.
func (r *Runner) settleOne(ctx context.Context, it *item) action {
	act, class := decide(it.err, it.delivered, r.cfg.MaxDeliver)
	it.class = class
	switch act {
	case actAck:
		if err := it.msg.DoubleAck(ctx); err != nil {
			// Committed but not acked: it will be redelivered and re-applied,
			// which changes nothing.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("ack failed after commit")
		}
	case actRetry:
		r.retry(it, class)
	case actTerm:
		if err := r.dead.Write(ctx, it.msg, r.letter(it, class)); err != nil {
			// Never terminate what could not be dead-lettered: retry it.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("dead letter failed; task kept for retry")
			r.retry(it, class)
			return actRetry
		}
		r.taskLog(r.log.Error(), it).Str("class", string(class)).Err(it.err).Msg("task dead-lettered")
		if err := it.msg.TermWithReason(reason(class, it.err)); err != nil {
			// Redelivered later, it fails again and its dead letter is
			// de-duplicated by message id.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("term failed")
		}
	}
	return act
}

func (r *Runner) retry(it *item, class outcome.Class) {
	delay := retryDelay(r.cfg.Retry, it.delivered, it.err)
	r.taskLog(r.log.Warn(), it).Str("class", string(class)).Dur("retry_in", delay).Err(it.err).Msg("task will be retried")
	if err := it.msg.NakWithDelay(delay); err != nil {
		r.taskLog(r.log.Warn(), it).Err(err).Msg("nak failed")
	}
}

// letter describes a dead item for the dead-letter stream.
func (r *Runner) letter(it *item, class outcome.Class) dlq.Letter {
	l := dlq.Letter{Reason: it.err.Error(), Class: class, Worker: r.cfg.WorkerID,
		Symbol: it.task.Symbol, Kind: string(it.task.Kind)}
	if l.Symbol == "" { // the envelope did not decode: say what it claimed
		l.Symbol, l.Kind = dlq.Peek(it.msg.Data())
	}
	return l
}

func (r *Runner) taskLog(e *zerolog.Event, it *item) *zerolog.Event {
	return e.Str("kind", string(it.task.Kind)).Str("symbol", it.task.Symbol).Str("interval", string(it.task.Interval)).
		Uint64("stream_seq", it.seq).Uint64("delivered", it.delivered).Uint64("batch", it.batch)
}

func reason(class outcome.Class, err error) string {
	s := string(class) + ": " + err.Error()
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
	}
	return s
}
