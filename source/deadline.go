package source

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrDeadline is the cause of a context from WithDeadline whose time ran
// out: the source took too long for one task.
var ErrDeadline = errors.New("source deadline passed")

// WithDeadline returns ctx bounded by d of the source's own time: its
// clock stops while a request waits for the fleet's rate limit (WaitFor),
// so a task starved of rate-limit tokens by a busy fleet is not failed for
// it, while one whose source hangs, or retries for longer than d, is. When
// the time runs out, the context is cancelled with cause ErrDeadline. The
// CancelFunc releases it; call it when the fetch is done.
func WithDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	c := &clock{left: d, expire: func() { cancel(ErrDeadline) }}
	c.run()
	return context.WithValue(ctx, clockKey{}, c), func() { c.stop(); cancel(context.Canceled) }
}

// WaitFor waits for w with the clock of ctx's deadline (WithDeadline), if
// any, stopped meanwhile.
func WaitFor(ctx context.Context, w Waiter) error {
	if c, ok := ctx.Value(clockKey{}).(*clock); ok {
		c.pause()
		defer c.run()
	}
	return w.Wait(ctx)
}

type clockKey struct{}

// clock is a deadline that can stop and go: left is the time remaining
// while it is stopped; while it runs, timer fires at the end of it.
type clock struct {
	mu      sync.Mutex
	left    time.Duration
	since   time.Time
	timer   *time.Timer
	paused  int // nested pauses: concurrent waits of one task
	stopped bool
	expire  func()
}

func (c *clock) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused > 0 {
		c.paused--
	}
	if c.paused > 0 || c.stopped || c.timer != nil {
		return
	}
	c.since, c.timer = time.Now(), time.AfterFunc(c.left, c.expire)
}

func (c *clock) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused++
	if c.timer != nil && c.timer.Stop() {
		c.left -= time.Since(c.since)
	}
	c.timer = nil
}

func (c *clock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
}
