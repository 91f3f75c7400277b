package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/outcome"
	"marketfleet/tasks"
)

// action is what the runner does with a task's message.
type action int

const (
	actAck     action = iota // applied and committed: ack (sent plain, confirmed with the batch's others)
	actRetry                 // transient failure: NakWithDelay
	actTerm                  // permanent failure: dead letter, then TermWithReason
	actRequeue               // deferred on its last delivery: a new copy at the end of the queue, then ack
)

// decide is the one place where a task's error becomes an action. The
// error says what it is (package outcome): nil is acknowledged, a
// dead-letter class is dead-lettered, busy and transient failures are
// retried. A transient failure on the last delivery JetStream allows
// (maxDeliver) is final too: the task is dead-lettered as exhausted with
// that last error instead of vanishing into a MAX_DELIVERIES advisory. A
// deferred task (held back by the fleet before it reached the source) is
// never final: on the last delivery it is put back at the end of the
// queue as a new message, its deliveries counted afresh.
func decide(err error, delivered uint64, maxDeliver int) (action, outcome.Class) {
	last := maxDeliver > 0 && delivered >= uint64(maxDeliver)
	switch c := outcome.Of(err); {
	case err == nil:
		return actAck, ""
	case c.DeadLetter():
		return actTerm, c
	case c == outcome.Deferred && last:
		return actRequeue, c
	case c == outcome.Deferred:
		return actRetry, c
	case last:
		return actTerm, outcome.Exhausted
	default: // busy, transient
		return actRetry, c
	}
}

// busyDelay is the least delay before a busy task is retried; the jitter
// adds up to as much again.
const busyDelay = time.Second

// retryDelay is the NakWithDelay delay for a task that failed on its
// delivered-th delivery: the backoff policy's jittered delay, or the
// delay the error asks for (a source's Retry-After) when that is longer,
// but never more than the policy's Max (FLEET_RETRY_MAX): a source asking
// for a longer wait gets Max, and that delivery counts as failed like any
// other, so a source that keeps asking exhausts the task instead of
// parking it for years. capped reports that the error asked for more.
func retryDelay(p backoff.Policy, delivered uint64, err error) (d time.Duration, capped bool) {
	d = p.Delay(int(min(delivered, 64)))
	if outcome.Of(err) == outcome.Busy {
		// The other task usually holds the series for about a batch: try
		// again soon, but back off like any retry, so that a series held
		// for long (a stalled holder) does not use up the deliveries.
		return max(busyDelay+rand.N(busyDelay), d), false
	}
	asked := outcome.After(err)
	if outcome.Of(err) == outcome.Deferred {
		// The fleet's limiter said when the request could go: no backoff
		// on top of it (a deferral is no failure of the task).
		return min(max(asked, 100*time.Millisecond), p.Max), false
	}
	if asked > p.Max {
		return p.Max, true
	}
	return max(d, asked), false
}

// maxReasonLen caps the reason sent with TermWithReason.
const maxReasonLen = 200

// followUp enqueues the follow-up tasks of every committed item (its
// kind's FollowUps phase, behind the panic barrier), and waits until they
// are stored: only then may the items be acknowledged. If they cannot be
// stored, their items are retried (a rewrite changes nothing, and the
// follow-ups' message ids make a second copy a duplicate).
func (r *Runner) followUp(ctx context.Context, items []*item) {
	var all []tasks.Task
	var owners []*item
	for _, it := range items {
		if !it.ok() {
			continue
		}
		var ts []tasks.Task
		it.fail(guard(func() error { ts = it.kind.followUps(it); return nil }))
		if len(ts) > 0 && it.ok() {
			all, owners = append(all, ts...), append(owners, it)
		}
	}
	if len(all) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	if _, err := r.cfg.FollowUps.Publish(pctx, all); err != nil {
		for _, it := range owners {
			it.fail(fmt.Errorf("enqueue follow-ups: %w", err))
		}
	}
}

// settle acks, naks or dead-letters every item. The acks go first, plain
// (a message each, no reply), then one round trip (Config.Confirm, within
// WriteTimeout) returns once the server the worker is connected to has
// read them all; the rest, which wait for the server (a dead letter is
// stored before its Term), run concurrently. It returns how many took each
// action.
//
// What the round trip does not promise: that the acks were applied (the
// server queues them for the consumer; in a cluster the consumer's leader
// may be another server). If the server or the connection goes down after
// the commit and before an ack is applied, the task is delivered again and
// its write repeated, which changes nothing (every write is an idempotent
// upsert of the same rows). No task is ever lost: nothing is acked before
// its commit. The round trip is backpressure: a worker does not run ahead
// of a server that no longer reads its acks.
func (r *Runner) settle(ctx context.Context, items []*item) map[action]int {
	counts := map[action]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var acked []*item
	for _, it := range items {
		act, class := decide(it.failure(), it.delivered, r.maxDeliver)
		if act != actAck {
			wg.Go(func() {
				act := r.settleOne(ctx, it, act, class)
				it.act, it.settled = act, time.Now()
				mu.Lock()
				counts[act]++
				mu.Unlock()
			})
			continue
		}
		if err := it.msg.Ack(); err != nil {
			// Committed but not acked: it will be redelivered and re-applied,
			// which changes nothing.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("ack failed after commit")
		}
		acked = append(acked, it)
	}
	if len(acked) > 0 {
		// The flush needs a deadline (nats.go refuses a context without
		// one); the batch's context has none of its own.
		cctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		err := r.cfg.Confirm(cctx)
		cancel()
		if err != nil {
			r.log.Warn().Err(err).Int("acks", len(acked)).
				Msg("acks not confirmed: their tasks may be delivered again and rewritten, which changes nothing")
		}
	}
	now := time.Now()
	for _, it := range acked {
		it.act, it.settled = actAck, now
	}
	wg.Wait()
	counts[actAck] += len(acked)
	return counts
}

// settleOne carries out the decision (anything but an ack) on one item
// and returns what it did.
func (r *Runner) settleOne(ctx context.Context, it *item, act action, class outcome.Class) action {
	err := it.failure()
	it.class = class
	switch act {
	case actRetry:
		r.retry(it, class, err)
	case actRequeue:
		if qerr := r.cfg.FollowUps.Requeue(ctx, it.msg); qerr != nil {
			r.taskLog(r.log.Warn(), it).Err(qerr).Msg("requeue failed; task kept for retry")
			r.retry(it, class, err)
			return actRetry
		}
		r.taskLog(r.log.Info(), it).Str("class", string(class)).Err(err).
			Msg("task deferred on its last delivery: put back at the end of the queue")
		if err := it.msg.DoubleAck(ctx); err != nil {
			// Redelivered later, its requeue is de-duplicated by message id.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("ack after requeue failed")
		}
	case actTerm:
		if derr := r.dead.Write(ctx, it.msg, r.letter(it, class, err)); derr != nil {
			// Never terminate what could not be dead-lettered: retry it.
			r.taskLog(r.log.Warn(), it).Err(derr).Msg("dead letter failed; task kept for retry")
			r.retry(it, class, err)
			return actRetry
		}
		ev := r.taskLog(r.log.Error(), it).Str("class", string(class)).Err(err)
		if stack := stackOf(err); stack != "" {
			ev = ev.Str("stack", stack)
		}
		ev.Msg("task dead-lettered")
		if err := it.msg.TermWithReason(reason(class, err)); err != nil {
			// Redelivered later, it fails again and its dead letter is
			// de-duplicated by message id.
			r.taskLog(r.log.Warn(), it).Err(err).Msg("term failed")
		}
	}
	return act
}

func (r *Runner) retry(it *item, class outcome.Class, err error) {
	delay, capped := retryDelay(r.cfg.Retry, it.delivered, err)
	level := r.log.Warn()
	if class == outcome.Deferred { // the fleet's own pacing (logged by the limiter), not a failure
		level = r.log.Debug()
	}
	ev := r.taskLog(level, it).Str("class", string(class)).Stringer("retry_in", delay).Err(err)
	if capped {
		ev = ev.Stringer("asked", outcome.After(err)).Str("capped_by", "FLEET_RETRY_MAX")
	}
	ev.Msg("task will be retried")
	it.retryAt = time.Now().Add(delay)
	if err := it.msg.NakWithDelay(delay); err != nil {
		r.taskLog(r.log.Warn(), it).Err(err).Msg("nak failed")
	}
}

// letter describes a dead item for the dead-letter stream.
func (r *Runner) letter(it *item, class outcome.Class, err error) dlq.Letter {
	l := dlq.Letter{Reason: err.Error(), Class: class, Worker: r.cfg.WorkerID,
		Symbol: it.task.Symbol, Kind: string(it.task.Kind), Stack: stackOf(err)}
	if l.Symbol == "" { // the envelope did not decode: say what it claimed
		l.Symbol, l.Kind = dlq.Peek(it.msg.Data())
	}
	return l
}

// stackOf is the stack of the panic err comes from, or "".
func stackOf(err error) string {
	var pe *PanicError
	if errors.As(err, &pe) {
		return pe.Stack
	}
	return ""
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
