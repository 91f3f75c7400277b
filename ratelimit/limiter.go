package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/queue"
)

// Limiter is one worker's handle on a fleet-wide limit. It is safe for
// concurrent use and runs no goroutines of its own: there is nothing to
// close.
type Limiter struct {
	cfg       Config
	js        jetstream.JetStream
	kv        jetstream.KeyValue // nil when unlimited
	log       zerolog.Logger
	interval  time.Duration // T
	tolerance time.Duration // τ

	sem    chan struct{}        // serialises the KV round trips and guards spare
	queued atomic.Int64         // callers waiting for sem
	spare  []time.Time          // grants reserved by a batch, not yet handed out
	rtt    time.Duration        // smoothed KV round trip, guarded by sem
	seen   atomic.Pointer[seen] // the state last read

	stats    counters
	warnSkew throttle
	warnConf throttle
	warnErr  throttle
	warnCut  throttle
}

// Open returns a Limiter for cfg. When cfg.Rate is 0 the limiter is
// unlimited, js may be nil and no KV bucket is touched. Otherwise it opens
// the bucket, creating it (file storage, history 1, cfg.Replicas) when it
// does not exist. It returns an error wrapping ErrInvalidConfig for a bad
// cfg or a nil js, or the JetStream error.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Limiter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var err error
	l := &Limiter{cfg: cfg, js: js, log: cfg.Logger.With().Str("key", cfg.Key).Logger(), sem: make(chan struct{}, 1)}
	if cfg.Rate == 0 {
		return l, nil
	}
	if js == nil {
		return nil, fmt.Errorf("%w: rate %v needs a JetStream handle", ErrInvalidConfig, cfg.Rate)
	}
	l.interval = cfg.interval()
	l.tolerance = time.Duration(cfg.Burst-1) * l.interval
	if l.kv, err = openBucket(ctx, js, cfg); err != nil {
		return nil, err
	}
	l.log.Debug().Float64("rate", cfg.Rate).Int("burst", cfg.Burst).Int("batch", cfg.Batch).Msg("fleet rate limiter opened")
	return l, nil
}

func openBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "marketfleet fleet-wide rate limits: one key per limited data source",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return kv, nil
}

// Config returns the limiter's configuration with defaults applied.
func (l *Limiter) Config() Config { return l.cfg }

// Wait blocks until the fleet may send one more request, and returns nil
// then. It returns an error wrapping ErrDeferred at once (booking nothing)
// when the request could not go within Config.MaxWait: the breaker is open
// or the fleet's requests are booked further ahead; the error asks for the
// delay (outcome.After). A caller whose grant was booked before the
// source pushed back (a cut this limiter has read since) books again at the
// new rate when its time comes, so that a cut slows the fleet at once,
// not after the bookings made at the old rate. It returns an error
// wrapping ctx's error when ctx
// ends first, one
// wrapping context.DeadlineExceeded at once (reserving nothing) when the
// request could only go after ctx's deadline, and one wrapping
// ErrUnavailable when NATS errors persisted for Config.RetryFor. With Rate
// 0 it returns nil at once unless ctx is already done.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rate limit %s: %w", l.cfg.Key, err)
	}
	if l.kv == nil {
		l.stats.granted.Add(1)
		return nil
	}
	for {
		at, err := l.reserve(ctx)
		if err != nil {
			return err
		}
		factor := l.factorSeen() // the rate this grant was spaced for
		if err := sleepUntil(ctx, at); err != nil {
			l.stats.wasted.Add(1)
			return fmt.Errorf("rate limit %s: %w", l.cfg.Key, err)
		}
		if !l.cutSince(factor) {
			l.stats.granted.Add(1)
			return nil
		}
		// Booked at a rate no longer in force (the source pushed back
		// meanwhile): book again at the new one, or be deferred.
		l.stats.wasted.Add(1)
	}
}

// factorSeen is the share of Rate in force by the state this limiter last
// read (1 before it has read any).
func (l *Limiter) factorSeen() float64 {
	if s := l.seen.Load(); s != nil {
		return factorAt(s.st, time.Now())
	}
	return 1
}

// cutSince reports whether the state this limiter last read puts the
// rate in force well below factor, the one a grant was booked at (or the
// breaker open): that grant was spaced for a rate the source refuses.
func (l *Limiter) cutSince(factor float64) bool {
	s := l.seen.Load()
	if s == nil {
		return false
	}
	now := time.Now()
	return s.st.Open.After(now) || factorAt(s.st, now) < 0.75*factor
}

// reserve returns the time at which the caller may go, retrying conflicts
// at once and NATS errors with backoff for up to RetryFor.
func (l *Limiter) reserve(ctx context.Context) (time.Time, error) {
	start := time.Now()
	b := backoff{next: 50 * time.Millisecond, max: 2 * time.Second}
	for {
		at, err := l.attempt(ctx, start)
		var pause time.Duration
		var d *deferral
		switch {
		case err == nil:
			return at, nil
		case ctx.Err() != nil:
			return time.Time{}, fmt.Errorf("rate limit %s: %w", l.cfg.Key, ctx.Err())
		case errors.As(err, &d):
			l.stats.deferred.Add(1)
			return time.Time{}, l.deferred(d)
		case errors.Is(err, errBeyondDeadline):
			return time.Time{}, fmt.Errorf("rate limit %s: %w: %w", l.cfg.Key, err, context.DeadlineExceeded)
		case errors.Is(err, errConflict), errors.Is(err, errLate):
			pause = jitter(min(l.interval, 5*time.Millisecond))
		default:
			pause = b.step()
			if l.warnErr.allow(10 * time.Second) {
				l.log.Warn().Err(err).Stringer("retry_for", l.cfg.RetryFor).Msg("fleet rate limiter: KV bucket unavailable; retrying")
			}
		}
		left := l.cfg.RetryFor - time.Since(start)
		if left <= 0 {
			return time.Time{}, l.unavailable(err, time.Since(start))
		}
		if err := sleepUntil(ctx, time.Now().Add(min(pause, left))); err != nil {
			return time.Time{}, fmt.Errorf("rate limit %s: %w", l.cfg.Key, err)
		}
	}
}

// unavailable wraps ErrUnavailable and the last error. A timeout of our
// own per-operation context is not passed on as context.DeadlineExceeded,
// which the caller would take for the end of its own context.
func (l *Limiter) unavailable(last error, after time.Duration) error {
	if errors.Is(last, context.DeadlineExceeded) || errors.Is(last, context.Canceled) {
		return fmt.Errorf("rate limit %s: %w after %s: nats request timed out: %v", l.cfg.Key, ErrUnavailable, after.Round(time.Millisecond), last)
	}
	return fmt.Errorf("rate limit %s: %w after %s: %w", l.cfg.Key, ErrUnavailable, after.Round(time.Millisecond), last)
}

// attempt takes the semaphore and hands out a spare grant or makes one
// reservation in the KV bucket.
func (l *Limiter) attempt(ctx context.Context, start time.Time) (time.Time, error) {
	l.queued.Add(1)
	select {
	case l.sem <- struct{}{}:
		l.queued.Add(-1)
	case <-ctx.Done():
		l.queued.Add(-1)
		return time.Time{}, ctx.Err()
	}
	defer func() { <-l.sem }()
	if at, ok, err := l.takeSpare(ctx); ok || err != nil {
		return at, err
	}
	n := min(l.cfg.Batch, 1+int(l.queued.Load()))
	opTimeout := min(2*time.Second, max(l.cfg.RetryFor-time.Since(start), 100*time.Millisecond))
	grants, err := l.reserveKV(ctx, n, opTimeout)
	if err != nil {
		return time.Time{}, err
	}
	l.spare = append(l.spare, grants[1:]...)
	return grants[0], nil
}

// takeSpare hands out the earliest grant left by a batch reservation,
// dropping those that are overdue. It reports false when there is none.
func (l *Limiter) takeSpare(ctx context.Context) (time.Time, bool, error) {
	now := time.Now()
	for len(l.spare) > 0 && now.Sub(l.spare[0]) > lateness(l.interval, l.rtt) {
		l.spare = l.spare[1:]
		l.stats.wasted.Add(1)
	}
	if len(l.spare) == 0 {
		return time.Time{}, false, nil
	}
	at := l.spare[0]
	if dl, ok := ctx.Deadline(); ok && at.After(dl) {
		return time.Time{}, false, errBeyondDeadline
	}
	l.spare = l.spare[1:]
	return at, true, nil
}

// sleepUntil waits until t or until ctx ends, and returns ctx's error then.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
