package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"marketfleet/internal/config"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Fetcher hands a worker small batches of tasks from a pull consumer. It
// issues Fetch(Size) and never opens a second pull while one is open, so at
// most Size messages are ever delivered to the worker and not yet settled.
// It never uses Consume, whose 500-message buffer would start 500 AckWait
// clocks at once.
//
// Next returns as soon as it has Size messages, or Linger after the first
// one arrived, so a lone on-demand task starts within milliseconds instead
// of waiting for the pull to expire. Messages that arrive on the same pull
// after Next returned are the start of the next batch.
//
// With a Priority consumer, every new pull is preceded by a no-wait fetch
// from it: high-priority tasks overtake the normal backlog within one batch
// (or one MaxWait on an idle queue), at the cost of one round trip per
// batch.
//
// A Fetcher is not safe for concurrent use.
type Fetcher struct {
	cons     jetstream.Consumer
	priority jetstream.Consumer // nil: none
	size     int
	maxWait  time.Duration
	linger   time.Duration
	cur      jetstream.MessageBatch // the open pull request, nil when none
	restore  Restorer               // nil: none
	// held are messages the open pull delivered while the caller was not
	// in Next, which the keeper took off the pull and keeps alive with
	// InProgress; Next hands them out first.
	held   []jetstream.Msg
	keeper *keeper // running between Next calls while a pull is open
}

// Restorer recreates what a Fetcher pulls from (the stream, the consumers)
// when a pull finds it gone, and returns the consumers to pull from:
// normal and priority (nil if the Fetcher has none).
type Restorer func(ctx context.Context) (cons, priority jetstream.Consumer, err error)

// Restore makes f call fn when a pull finds its consumer or stream gone
// (deleted by an operator: the pull ends with "consumer deleted", or no
// one answers it), instead of pulling from a consumer that no longer
// exists forever. Next still returns that pull's error; the next pull
// uses what fn returned.
func (f *Fetcher) Restore(fn Restorer) { f.restore = fn }

// gone reports whether err from a pull means the consumer (or its stream)
// no longer exists: the server says it was deleted, or nobody answers the
// pull request (no consumer is subscribed to its subject). No responders
// also happens for a moment while a cluster elects a consumer leader: the
// Restorer then finds the consumer and changes nothing.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse)
}

// lost handles a pull's error: when it means the consumer is gone and f
// has a Restorer, it restores and swaps consumers. It returns err, noting
// a failed restore.
func (f *Fetcher) lost(ctx context.Context, err error) error {
	if f.restore == nil || !gone(err) {
		return err
	}
	cons, priority, rerr := f.restore(ctx)
	if rerr != nil {
		return fmt.Errorf("%w (and recreating the consumer failed: %v)", err, rerr)
	}
	f.cons, f.priority = cons, priority
	return err
}

// FetcherConfig tunes a Fetcher. Zero fields take the defaults documented
// on each.
type FetcherConfig struct {
	// Size is the most messages in one batch: 1..1000. Defaults to 50.
	Size int
	// MaxWait is how long one pull request waits on an empty queue before
	// it expires, 100ms..1m; it also bounds how long Drain waits. Defaults
	// to 1s.
	MaxWait time.Duration
	// Linger is how long Next waits for more messages after the first one
	// of a batch. Defaults to 5ms.
	Linger time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c FetcherConfig) WithDefaults() FetcherConfig {
	c.Size = cmp.Or(c.Size, 50)
	c.MaxWait = cmp.Or(c.MaxWait, time.Second)
	c.Linger = cmp.Or(c.Linger, 5*time.Millisecond)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c FetcherConfig) Validate() error {
	switch {
	case c.Size < 1 || c.Size > 1000:
		return config.Invalid(ErrInvalidConfig, "Size", c.Size, "want 1..1000")
	case c.MaxWait < 100*time.Millisecond || c.MaxWait > time.Minute:
		return config.Invalid(ErrInvalidConfig, "MaxWait", c.MaxWait, "want 100ms..1m")
	case c.Linger < 0:
		return config.Invalid(ErrInvalidConfig, "Linger", c.Linger, "want >= 0")
	}
	return nil
}

// NewFetcher returns a Fetcher on cons; priority, if not nil, is the
// consumer of high-priority tasks, drained before cons. It returns a
// *config.FieldError wrapping ErrInvalidConfig for an invalid c.
func NewFetcher(cons, priority jetstream.Consumer, c FetcherConfig) (*Fetcher, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Fetcher{cons: cons, priority: priority, size: c.Size, maxWait: c.MaxWait, linger: c.Linger}, nil
}

// AckWait is the AckWait of the fetcher's consumer: how long a delivered
// task may stay unsettled before it is redelivered.
func (f *Fetcher) AckWait() time.Duration { return f.cons.CachedInfo().Config.AckWait }

// Size is the most messages in one batch (FetcherConfig.Size).
func (f *Fetcher) Size() int { return f.size }

// MaxDeliver is the MaxDeliver of the fetcher's consumer: the delivery on
// which a task's failure is final.
func (f *Fetcher) MaxDeliver() int { return f.cons.CachedInfo().Config.MaxDeliver }

// Next blocks until at least one message is available and returns up to
// Size messages. It returns ctx.Err() when ctx ends before a message is
// there (the open pull
// stays open: call Drain to collect what it still delivers), or the pull's
// error (no responders, connection closed, ...) which the caller should
// treat as transient.
func (f *Fetcher) Next(ctx context.Context) ([]jetstream.Msg, error) {
	return f.NextUpTo(ctx, f.size)
}

// NextUpTo is Next with batches of at most n messages (n < 1 counts as 1,
// n > Size as Size), for a caller that can only start a few now (the
// fleet's source rate is low): a new pull asks for n, and fewer late
// messages wait on it. A pull already open may still deliver up to the
// size it asked for; they are the start of the next batches.
func (f *Fetcher) NextUpTo(ctx context.Context, n int) ([]jetstream.Msg, error) {
	f.stopKeeper()
	defer f.startKeeper()
	size := min(max(n, 1), f.size)
	if len(f.held) > 0 {
		n := min(len(f.held), size)
		out := f.held[:n:n]
		f.held = f.held[n:]
		return f.fill(out, size), nil
	}
	var out []jetstream.Msg
	for len(out) == 0 {
		if f.cur == nil {
			urgent, err := f.urgent(size)
			if len(urgent) > 0 {
				return urgent, nil
			}
			if err != nil {
				return nil, f.lost(ctx, err)
			}
			b, err := f.cons.Fetch(size, jetstream.FetchMaxWait(f.maxWait))
			if err != nil {
				return nil, f.lost(ctx, fmt.Errorf("fetch: %w", err))
			}
			f.cur = b
		}
		m, ok, err := f.receive(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := f.endPull(); err != nil {
				return nil, f.lost(ctx, err)
			}
			continue
		}
		out = append(out, m)
	}
	return f.fill(out, size), nil
}

// receive returns the open pull's next message (ok false when the pull
// ended), or ctx's error when ctx ends first. A message already delivered
// wins over an ended ctx.
func (f *Fetcher) receive(ctx context.Context) (jetstream.Msg, bool, error) {
	select {
	case m, ok := <-f.cur.Messages():
		return m, ok, nil
	default:
	}
	select {
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case m, ok := <-f.cur.Messages():
		return m, ok, nil
	}
}

// urgent returns the high-priority tasks waiting now, without waiting for
// any. An error here (a timeout) is not the normal pull's business: the
// next batch asks again; only one saying the priority consumer is gone is
// returned, for the Fetcher to restore it.
func (f *Fetcher) urgent(size int) ([]jetstream.Msg, error) {
	if f.priority == nil {
		return nil, nil
	}
	b, err := f.priority.FetchNoWait(size)
	if err != nil {
		return nil, nil
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if err := b.Error(); err != nil && gone(err) {
		return out, fmt.Errorf("fetch high-priority tasks: %w", err)
	}
	return out, nil
}

// fill adds messages already arriving on the open pull, for up to Linger,
// up to size in all.
func (f *Fetcher) fill(out []jetstream.Msg, size int) []jetstream.Msg {
	if f.cur == nil || len(out) >= size {
		return out
	}
	timer := time.NewTimer(f.linger)
	defer timer.Stop()
	for len(out) < size {
		select {
		case m, ok := <-f.cur.Messages():
			if !ok {
				_ = f.endPull() // its error, if any, resurfaces on the next pull
				return out
			}
			out = append(out, m)
		case <-timer.C:
			return out
		}
	}
	return out
}

// endPull forgets the finished pull and returns its error, if it was not
// the normal end of a pull (expiry or no messages).
func (f *Fetcher) endPull() error {
	err := f.cur.Error()
	f.cur = nil
	if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// Drain waits for the open pull, if any, to end (it expires within MaxWait)
// and returns the messages it still delivered, which the caller has not
// started and should Nak. It returns early, with what it has, when ctx ends.
func (f *Fetcher) Drain(ctx context.Context) []jetstream.Msg {
	f.stopKeeper()
	out := f.held
	f.held = nil
	for f.cur != nil {
		select {
		case <-ctx.Done():
			return out
		case m, ok := <-f.cur.Messages():
			if !ok {
				f.cur = nil
				return out
			}
			out = append(out, m)
		}
	}
	return out
}

// keeper is the goroutine that keeps the open pull's late messages alive
// between two Next calls.
type keeper struct {
	stop, done chan struct{}
}

// startKeeper starts the keeper when a pull is open or messages are held:
// while the caller is busy with a batch (a long write, the housekeeping),
// messages that the open pull delivers meanwhile would otherwise wait
// unacknowledged in its buffer past AckWait, be redelivered to another
// worker while this one still holds them, and burn deliveries. Every
// AckWait/3 the keeper takes what the pull delivered off it (into held)
// and sends InProgress for every held message. A caller that has not come
// back for 2·AckWait (its database is down, it waits for a session) is
// not about to start them: the keeper then Naks them, so that other
// workers take them, and Naks whatever the pull still delivers. Next and
// Drain stop it first, so the Fetcher is still used by one goroutine at a
// time.
func (f *Fetcher) startKeeper() {
	if f.keeper != nil || (f.cur == nil && len(f.held) == 0) {
		return
	}
	k := &keeper{stop: make(chan struct{}), done: make(chan struct{})}
	f.keeper = k
	every := max(f.AckWait()/3, 100*time.Millisecond)
	giveUp := time.Now().Add(2 * f.AckWait())
	go func() {
		defer close(k.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-k.stop:
				return
			case now := <-t.C:
				f.holdDelivered()
				for _, m := range f.held {
					if now.After(giveUp) {
						_ = m.Nak() // best effort: a lost one is redelivered after AckWait
					} else {
						_ = m.InProgress() // best effort: a lost one means an early redelivery
					}
				}
				if now.After(giveUp) {
					f.held = nil
				}
			}
		}
	}()
}

// holdDelivered moves what the open pull has delivered so far into held,
// without waiting; it leaves an ended pull for Next to finish.
func (f *Fetcher) holdDelivered() {
	if f.cur == nil {
		return
	}
	for {
		select {
		case m, ok := <-f.cur.Messages():
			if !ok {
				return
			}
			f.held = append(f.held, m)
		default:
			return
		}
	}
}

// stopKeeper stops the keeper, if it runs, and waits until it has.
func (f *Fetcher) stopKeeper() {
	if k := f.keeper; k != nil {
		close(k.stop)
		<-k.done
		f.keeper = nil
	}
}
