package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/tasks"
)

// DefaultPublishWindow is how many publishes may await their ack at once.
const DefaultPublishWindow = 256

// publishTimeout bounds the wait for one ack when ctx has no deadline.
const publishTimeout = 10 * time.Second

// Publisher enqueues tasks on the task stream. It is safe for concurrent use.
type Publisher struct {
	js     jetstream.JetStream
	stream string
	window int
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

// Publish validates and enqueues ts, each with its Nats-Msg-Id, and waits for
// every confirmation. Publishes are pipelined (up to DefaultPublishWindow
// awaiting acks); a publish that fails is retried with the same message id,
// so a retry can never enqueue a task twice. An invalid task stops Publish
// before anything is sent (the error wraps tasks.ErrInvalid). On a publish
// failure it returns what was confirmed so far and the error.
func (p *Publisher) Publish(ctx context.Context, ts []tasks.Task) (Result, error) {
	msgs := make([]*nats.Msg, len(ts))
	for i, t := range ts {
		data, err := tasks.Encode(t)
		if err != nil {
			return Result{}, fmt.Errorf("publish %s: %w", t.Symbol, err)
		}
		msgs[i] = &nats.Msg{Subject: SubjectOf(t), Data: data, Header: nats.Header{}}
		msgs[i].Header.Set(jetstream.MsgIDHeader, t.MsgID())
	}
	var res Result
	pending := make([]inflight, 0, p.window)
	for _, m := range msgs {
		if len(pending) == p.window {
			if err := p.settle(ctx, pending[0], &res); err != nil {
				return res, err
			}
			pending = pending[1:]
		}
		f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(p.stream))
		pending = append(pending, inflight{msg: m, fut: f, err: err})
	}
	for _, in := range pending {
		if err := p.settle(ctx, in, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

type inflight struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
	err error // PublishMsgAsync refused it outright
}

// settle waits for one async publish and falls back to a synchronous publish
// with retries (same message id) when it failed.
func (p *Publisher) settle(ctx context.Context, in inflight, res *Result) error {
	var ack *jetstream.PubAck
	err := in.err
	if err == nil {
		select {
		case ack = <-in.fut.Ok():
		case err = <-in.fut.Err():
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w", in.msg.Header.Get(jetstream.MsgIDHeader), ctx.Err())
		}
	}
	if err != nil {
		ack, err = p.publishSync(ctx, in.msg)
		if err != nil {
			return err
		}
	}
	if ack.Duplicate {
		res.Duplicates++
	} else {
		res.Accepted++
	}
	return nil
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
