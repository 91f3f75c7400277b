package dlq

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
	"marketfleet/outcome"
	"marketfleet/queue"
)

// Reaper turns the server's MAX_DELIVERIES advisories into dead letters.
// JetStream stops delivering a task after MaxDeliver attempts; when no
// worker decided its fate on the last attempt (it crashed, or the attempt
// timed out), the message would sit in the work-queue stream forever. The
// Reaper copies it to the dead-letter stream and then deletes it from the
// task stream. Advisories are captured in a stream of their own, so none is
// missed while no worker runs; every worker runs a Reaper on one shared
// durable consumer, and each step is idempotent.
type Reaper struct {
	js   jetstream.JetStream
	w    *Writer
	cfg  ReaperConfig
	cons jetstream.Consumer
	log  zerolog.Logger
}

// ReaperConfig tunes a Reaper. Zero fields take the defaults documented on
// each.
type ReaperConfig struct {
	// TaskStream is the stream whose consumers' advisories are reaped.
	// Defaults to queue.DefaultStream.
	TaskStream string
	// Replicas of the advisory stream (3 in production). Defaults to 1.
	Replicas int
	// Worker names the reaper in its dead letters. Defaults to "reaper".
	Worker string
	// Logger receives each task reaped. Defaults to none.
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c ReaperConfig) WithDefaults() ReaperConfig {
	c.TaskStream = cmp.Or(c.TaskStream, queue.DefaultStream)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.Worker = cmp.Or(c.Worker, "reaper")
	return c
}

// NewReaper ensures the advisory stream (capturing the advisories of every
// consumer of cfg.TaskStream) and its consumer, and returns a Reaper
// writing through w.
func NewReaper(ctx context.Context, js jetstream.JetStream, w *Writer, cfg ReaperConfig) (*Reaper, error) {
	cfg = cfg.WithDefaults()
	cons, err := ensureAdvisories(ctx, js, cfg.TaskStream, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	return &Reaper{js: js, w: w, cfg: cfg, cons: cons, log: cfg.Logger}, nil
}

// advisory is the part of io.nats.jetstream.advisory.v1.max_deliver we use.
type advisory struct {
	Stream     string `json:"stream"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// Run handles advisories until ctx is done, then returns nil.
func (r *Reaper) Run(ctx context.Context) error {
	for failures := 0; ctx.Err() == nil; {
		// The pull ends at once on shutdown; an advisory it was carrying is
		// redelivered to another worker's reaper.
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := r.cons.Fetch(10, jetstream.FetchContext(fctx))
		if err == nil {
			for m := range batch.Messages() {
				r.handle(ctx, m)
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			failures++
			r.log.Warn().Err(err).Msg("dead-letter reaper: fetch advisories")
			_ = backoff.Sleep(ctx, backoff.Default.Delay(failures))
			continue
		}
		failures = 0
	}
	return nil
}

func (r *Reaper) handle(ctx context.Context, m jetstream.Msg) {
	ctx = context.WithoutCancel(ctx) // finish what was started
	var adv advisory
	if err := json.Unmarshal(m.Data(), &adv); err != nil || adv.StreamSeq == 0 {
		r.log.Warn().Err(err).Msg("dead-letter reaper: unreadable advisory, dropped")
		_ = m.Term()
		return
	}
	if err := r.reap(ctx, adv); err != nil {
		r.log.Warn().Err(err).Uint64("stream_seq", adv.StreamSeq).Msg("dead-letter reaper: will retry")
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	_ = m.Ack()
}

// reap moves task adv.StreamSeq to the dead-letter stream.
func (r *Reaper) reap(ctx context.Context, adv advisory) error {
	s, err := r.js.Stream(ctx, r.cfg.TaskStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", r.cfg.TaskStream, err)
	}
	raw, err := s.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // already dead-lettered, acknowledged late, or purged
	}
	if err != nil {
		return fmt.Errorf("get task %d: %w", adv.StreamSeq, err)
	}
	l := Letter{
		Class:  outcome.MaxDeliveries,
		Reason: fmt.Sprintf("delivered %d times without being settled (acknowledgement timeouts); the last error is unknown", adv.Deliveries),
		Worker: r.cfg.Worker,
	}
	l.Symbol, l.Kind = Peek(raw.Data)
	src := source{stream: r.cfg.TaskStream, seq: raw.Sequence, subject: raw.Subject, delivered: adv.Deliveries, header: raw.Header, data: raw.Data}
	if err := r.w.write(ctx, src, l); err != nil {
		return err
	}
	if err := s.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete task %d: %w", adv.StreamSeq, err)
	}
	r.log.Error().Uint64("stream_seq", adv.StreamSeq).Uint64("delivered", adv.Deliveries).Str("symbol", l.Symbol).
		Str("class", string(outcome.MaxDeliveries)).Msg("task dead-lettered after its last delivery timed out")
	return nil
}

// Peek reads the symbol and kind of an envelope that may be invalid, best
// effort, for filtering dead letters. Oversized values read as empty.
func Peek(data []byte) (symbol, kind string) {
	var e struct {
		Symbol string `json:"symbol"`
		Kind   string `json:"kind"`
	}
	if json.Unmarshal(data, &e) != nil || len(e.Symbol) > 64 || len(e.Kind) > 32 {
		return "", ""
	}
	return e.Symbol, e.Kind
}
