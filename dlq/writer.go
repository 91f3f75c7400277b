package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// writeTimeout bounds one dead-letter publish when ctx has no deadline.
const writeTimeout = 10 * time.Second

// Writer stores dead letters. It is safe for concurrent use.
type Writer struct {
	js      jetstream.JetStream
	stream  string
	now     func() time.Time
	written func(l Letter)
}

// WriterOption configures NewWriter.
type WriterOption func(*Writer)

// WithWrittenHook calls fn after every dead letter the server confirmed
// (duplicates of one already stored included), for a metric. Defaults to
// none.
func WithWrittenHook(fn func(l Letter)) WriterOption {
	return func(w *Writer) { w.written = fn }
}

// NewWriter returns a Writer into the dead-letter stream named stream
// (DefaultStream if empty), which EnsureStream must have created.
func NewWriter(js jetstream.JetStream, stream string, opts ...WriterOption) *Writer {
	if stream == "" {
		stream = DefaultStream
	}
	w := &Writer{js: js, stream: stream, now: time.Now}
	for _, opt := range opts {
		opt(w)
	}
	return w
}

func (w *Writer) confirmed(l Letter) {
	if w.written != nil {
		w.written(l)
	}
}

// Write stores the dead letter of msg and waits until the server confirms
// it. Only then may the caller terminate msg: on error the caller must keep
// the task (Nak it) so that it is not lost.
func (w *Writer) Write(ctx context.Context, msg jetstream.Msg, l Letter) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("dead-letter: message metadata: %w", err)
	}
	return w.write(ctx, source{stream: md.Stream, seq: md.Sequence.Stream, subject: msg.Subject(),
		delivered: md.NumDelivered, header: msg.Headers(), data: msg.Data()}, l)
}

func (w *Writer) write(ctx context.Context, src source, l Letter) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, writeTimeout)
		defer cancel()
	}
	m := newMessage(SubjectPrefix, src, l, w.now())
	_, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(w.stream),
		jetstream.WithRetryAttempts(3), jetstream.WithRetryWait(200*time.Millisecond))
	if err != nil {
		return fmt.Errorf("dead-letter %s seq %d: %w", src.stream, src.seq, err)
	}
	w.confirmed(l)
	return nil
}
