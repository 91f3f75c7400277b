package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/tasks"
)

// DefaultPublishWindow is how many publishes may await their ack at once,
// and the most tasks of one atomic batch.
const DefaultPublishWindow = 256

// publishTimeout bounds the wait for one ack: for an async publish always
// (then it is published again, synchronously), for a synchronous one when
// ctx has no deadline.
const publishTimeout = 10 * time.Second

// errAckTimeout marks an async publish whose ack did not come in time.
var errAckTimeout = errors.New("no publish acknowledgement in time")

// Publisher enqueues tasks on the task stream. It is safe for concurrent use.
type Publisher struct {
	js     jetstream.JetStream
	stream string
	window int
	// unbatched is set when the stream does not allow atomic batches (its
	// config says so on the first publish, or it refused one): from then
	// on every group goes one message at a time.
	unbatched atomic.Bool
	checked   atomic.Bool // checkStream looked at the stream's config
}

// NewPublisher returns a Publisher for the named stream (DefaultStream if
// empty). Every publish expects that stream, so a task can never land in
// another stream that happens to match the subject.
func NewPublisher(js jetstream.JetStream, stream string) *Publisher {
	if stream == "" {
		stream = DefaultStream
	}
	return &Publisher{js: js, stream: stream, window: DefaultPublishWindow}
}

// Result counts what a Publish did.
type Result struct {
	// Accepted tasks were stored as new messages.
	Accepted int
	// Duplicates were already in the stream's de-duplication window (same
	// kind, symbol, interval and window) and were not stored again.
	Duplicates int
}

// Outcome is what the task stream did with one task of PublishEach.
type Outcome struct {
	// MsgID is the task's de-duplication id (tasks.Task.MsgID).
	MsgID string
	// Duplicate is true when the stream already held a message with MsgID
	// within its de-duplication window and did not store the task again;
	// false when it stored the task as a new message.
	Duplicate bool
	// Seq is the stream sequence the server reported: the new message's,
	// or for a duplicate the original's.
	Seq uint64
}

// Publish validates and enqueues ts, each with its Nats-Msg-Id, and waits for
// every confirmation. Publishes are pipelined (up to DefaultPublishWindow
// awaiting acks); a publish that fails is retried with the same message id,
// so a retry can never enqueue a task twice. An invalid task stops Publish
// before anything is sent (the error wraps tasks.ErrInvalid). On a publish
// failure it returns what was confirmed so far and the error.
func (p *Publisher) Publish(ctx context.Context, ts []tasks.Task) (Result, error) {
	_, res, err := p.PublishEach(ctx, ts)
	return res, err
}

// PublishEach is Publish reporting what happened to each task: outcomes[i]
// belongs to ts[i]. It validates, pipelines and retries exactly as Publish
// does and returns the same errors. On a publish failure the outcomes are
// those confirmed before it, a prefix of ts (Result counts the same), and
// the tasks after it may or may not have been stored: publishing ts again is
// safe, since the stream de-duplicates by message id.
//
// The tasks go in groups of up to the window, each first as one atomic
// batch if the stream allows them (publishAtomic: one fsync for the group
// on a server that syncs every write); a group the server does not store
// as a batch (one of its tasks is a duplicate, the stream refuses batches)
// is published one message at a time, pipelined, which reports each
// duplicate.
func (p *Publisher) PublishEach(ctx context.Context, ts []tasks.Task) ([]Outcome, Result, error) {
	msgs, err := encodeAll(ts)
	if err != nil {
		return nil, Result{}, err
	}
	p.checkStream(ctx)
	var res Result
	out := make([]Outcome, 0, len(msgs))
	for start := 0; start < len(msgs); start += p.window {
		if err := ctx.Err(); err != nil {
			return out, res, fmt.Errorf("publish: %w", err)
		}
		group := msgs[start:min(start+p.window, len(msgs))]
		if len(group) > 1 && !p.unbatched.Load() {
			if outs, ok := p.publishAtomic(ctx, group); ok {
				out = append(out, outs...)
				res.Accepted += len(outs)
				continue
			}
		}
		var err error
		if out, err = p.publishOneByOne(ctx, group, out, &res); err != nil {
			return out, res, err
		}
	}
	return out, res, nil
}

// checkStream looks once at the stream's config: a stream that does not
// allow atomic batches gets none. A failed look is tried again on the next
// publish (meanwhile a batch the stream refuses sets unbatched too).
func (p *Publisher) checkStream(ctx context.Context) {
	if p.checked.Load() {
		return
	}
	s, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return
	}
	if !s.CachedInfo().Config.AllowAtomicPublish {
		p.unbatched.Store(true)
	}
	p.checked.Store(true)
}

// publishOneByOne publishes msgs each on its own, pipelined (all of them
// awaiting their acks at once: at most the window), appends their outcomes
// to out and counts them in res.
func (p *Publisher) publishOneByOne(ctx context.Context, msgs []*nats.Msg, out []Outcome, res *Result) ([]Outcome, error) {
	pending := make([]inflight, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(p.stream))
		pending = append(pending, inflight{msg: m, fut: f, err: err})
	}
	for _, in := range pending {
		ack, err := p.settle(ctx, in)
		if err != nil {
			return out, err
		}
		out = append(out, Outcome{MsgID: in.msg.Header.Get(jetstream.MsgIDHeader), Duplicate: ack.Duplicate, Seq: ack.Sequence})
		res.count(ack.Duplicate)
	}
	return out, nil
}

// encodeAll validates and encodes ts into messages carrying their subject
// and message id; the first invalid task fails it.
func encodeAll(ts []tasks.Task) ([]*nats.Msg, error) {
	msgs := make([]*nats.Msg, len(ts))
	for i, t := range ts {
		data, err := tasks.Encode(t)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", t.Symbol, err)
		}
		msgs[i] = &nats.Msg{Subject: SubjectOf(t), Data: data, Header: nats.Header{}}
		msgs[i].Header.Set(jetstream.MsgIDHeader, t.MsgID())
	}
	return msgs, nil
}

func (r *Result) count(duplicate bool) {
	if duplicate {
		r.Duplicates++
	} else {
		r.Accepted++
	}
}

type inflight struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
	err error // PublishMsgAsync refused it outright
}

// settle waits for one async publish and falls back to a synchronous publish
// with retries (same message id) when it failed.
func (p *Publisher) settle(ctx context.Context, in inflight) (*jetstream.PubAck, error) {
	var ack *jetstream.PubAck
	err := in.err
	if err == nil {
		// An ack can be lost for good (the stream's leader died after
		// storing the message): never wait for it longer than
		// publishTimeout, then publish again with the same message id.
		timer := time.NewTimer(publishTimeout)
		defer timer.Stop()
		select {
		case ack = <-in.fut.Ok():
		case err = <-in.fut.Err():
		case <-timer.C:
			err = errAckTimeout
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %s: %w", in.msg.Header.Get(jetstream.MsgIDHeader), ctx.Err())
		}
	}
	if err != nil {
		return p.publishSync(ctx, in.msg)
	}
	return ack, nil
}

func (p *Publisher) publishSync(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	ack, err := p.js.PublishMsg(ctx, m, jetstream.WithExpectStream(p.stream),
		jetstream.WithRetryAttempts(5), jetstream.WithRetryWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", m.Header.Get(jetstream.MsgIDHeader), err)
	}
	return ack, nil
}

// requeuedPrefix starts the message id of a requeued task: requeued@SEQ:ID,
// SEQ the stream sequence of the message it replaces, ID the original id.
const requeuedPrefix = "requeued@"

// Requeue publishes msg again as a new message at the end of its stream,
// same subject, data and headers, with deliveries counted afresh: for a
// task that the fleet held back on its last delivery allowed. Its message
// id is requeued@SEQ:ID (SEQ the stream sequence of msg, ID its original
// id), so that requeuing the same delivery twice (the ack after it was
// lost) stores one copy. The caller acknowledges msg once Requeue returned
// nil.
func (p *Publisher) Requeue(ctx context.Context, msg jetstream.Msg) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	id := msg.Headers().Get(jetstream.MsgIDHeader)
	if rest, ok := strings.CutPrefix(id, requeuedPrefix); ok {
		if _, orig, ok := strings.Cut(rest, ":"); ok {
			id = orig
		}
	}
	m := &nats.Msg{Subject: msg.Subject(), Data: msg.Data(), Header: nats.Header{}}
	for k, vs := range msg.Headers() {
		// The headers of the atomic batch the message came in (the server
		// keeps them) would make the copy a stray member of that batch,
		// which the server refuses; the expectations were the original
		// publish's.
		if strings.HasPrefix(k, "Nats-Batch-") || strings.HasPrefix(k, "Nats-Expected-") {
			continue
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s%d:%s", requeuedPrefix, md.Sequence.Stream, id))
	_, err = p.publishSync(ctx, m)
	return err
}
