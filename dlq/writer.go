package dlq

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// writeTimeout bounds one dead-letter publish when ctx has no deadline.
const writeTimeout = 10 * time.Second

// Writer stores dead letters. It is safe for concurrent use.
type Writer struct {
	js  jetstream.JetStream
	cfg WriterConfig
	now func() time.Time
}

// WriterConfig tunes a Writer. Zero fields take the defaults documented on
// each.
type WriterConfig struct {
	// Stream is the dead-letter stream, which EnsureStream must have
	// created. Defaults to DefaultStream.
	Stream string
	// RefusedStream is the stream of refused requests (WriteRequest),
	// which EnsureStream must have created. Defaults to
	// DefaultRefusedStream.
	RefusedStream string
	// OnWritten, if set, is called after every dead letter the server
	// confirmed (duplicates of one already stored included), for a metric.
	OnWritten func(l Letter)
	// OnFailed, if set, is called with the stream's name after every write
	// that failed (the stream full, unreachable), for a metric.
	OnFailed func(stream string)
}

// WithDefaults returns c with zero fields set to their defaults.
func (c WriterConfig) WithDefaults() WriterConfig {
	c.Stream = cmp.Or(c.Stream, DefaultStream)
	c.RefusedStream = cmp.Or(c.RefusedStream, DefaultRefusedStream)
	return c
}

// NewWriter returns a Writer as cfg says.
func NewWriter(js jetstream.JetStream, cfg WriterConfig) *Writer {
	return &Writer{js: js, cfg: cfg.WithDefaults(), now: time.Now}
}

func (w *Writer) failed(stream string) {
	if w.cfg.OnFailed != nil {
		w.cfg.OnFailed(stream)
	}
}

func (w *Writer) confirmed(l Letter) {
	if w.cfg.OnWritten != nil {
		w.cfg.OnWritten(l)
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
	_, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(w.cfg.Stream),
		jetstream.WithRetryAttempts(3), jetstream.WithRetryWait(200*time.Millisecond))
	if err != nil {
		w.failed(w.cfg.Stream)
		return fmt.Errorf("dead-letter %s seq %d: %w", src.stream, src.seq, err)
	}
	w.confirmed(l)
	return nil
}
