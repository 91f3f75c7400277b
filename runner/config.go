package runner

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
	"marketfleet/internal/config"
)

// Tuning is the runner's knobs: what an operator may change. Zero fields
// take the defaults documented on each.
type Tuning struct {
	// FetchConcurrency bounds the concurrent Fetch phases (source requests)
	// across the batches in flight: 1..1000. Defaults to 50 (a batch's
	// worth of the fetcher's default Size).
	FetchConcurrency int
	// Pipeline is how many batches may be begun (fetching) and not yet
	// written, 1..8; one more may be being settled. 1 runs one batch at a
	// time. Defaults to 2.
	Pipeline int
	// Grace bounds how long the batches in hand may take to finish (fetch,
	// commit, ack) once shutdown begins. Defaults to 25s.
	Grace time.Duration
	// Retry computes NakWithDelay delays from the delivery count: Base
	// (at least 10ms) doubling up to Max, with jitter. Defaults to 2s
	// doubling up to 2m.
	Retry backoff.Policy
	// WriteTimeout bounds one write of a batch (its transaction, commit
	// included), each write of a Separate kind's job, and each other
	// database call of a batch (series locks, a kind's Prepare phase), on
	// the client side; pgx then closes the
	// session, and the batch is replayed on a new one. At least 1s.
	// Defaults to 45s (above the store's 30s statement timeout).
	WriteTimeout time.Duration
	// ReplayWindow bounds how long a batch whose session was lost waits for
	// a new session before its tasks are Nak'ed instead. Defaults to 30s.
	ReplayWindow time.Duration
	// HousekeepingEvery is how often Config.Housekeeping runs, at most.
	// Defaults to 5s.
	HousekeepingEvery time.Duration
}

// WithDefaults returns t with zero fields set to their defaults.
func (t Tuning) WithDefaults() Tuning {
	t.FetchConcurrency = cmp.Or(t.FetchConcurrency, 50)
	t.Pipeline = cmp.Or(t.Pipeline, 2)
	t.Grace = cmp.Or(t.Grace, 25*time.Second)
	t.Retry = cmp.Or(t.Retry, backoff.Policy{Base: 2 * time.Second, Max: 2 * time.Minute})
	t.WriteTimeout = cmp.Or(t.WriteTimeout, 45*time.Second)
	t.ReplayWindow = cmp.Or(t.ReplayWindow, 30*time.Second)
	t.HousekeepingEvery = cmp.Or(t.HousekeepingEvery, 5*time.Second)
	return t
}

// Validate checks t (after WithDefaults); the error is a
// *config.FieldError wrapping ErrInvalidConfig.
func (t Tuning) Validate() error {
	switch {
	case t.FetchConcurrency < 1 || t.FetchConcurrency > 1000:
		return config.Invalid(ErrInvalidConfig, "FetchConcurrency", t.FetchConcurrency, "want 1..1000")
	case t.Pipeline < 1 || t.Pipeline > 8:
		return config.Invalid(ErrInvalidConfig, "Pipeline", t.Pipeline, "want 1..8")
	case t.Grace <= 0:
		return config.Invalid(ErrInvalidConfig, "Grace", t.Grace, "want > 0")
	case t.Retry.Base < 10*time.Millisecond:
		return config.Invalid(ErrInvalidConfig, "Retry.Base", t.Retry.Base, "want at least 10ms")
	case t.Retry.Max < t.Retry.Base:
		return config.Invalid(ErrInvalidConfig, "Retry.Max", t.Retry.Max, "want at least Retry.Base (%s)", t.Retry.Base)
	case t.WriteTimeout < time.Second:
		return config.Invalid(ErrInvalidConfig, "WriteTimeout", t.WriteTimeout, "want at least 1s")
	case t.ReplayWindow < 0:
		return config.Invalid(ErrInvalidConfig, "ReplayWindow", t.ReplayWindow, "want >= 0")
	case t.HousekeepingEvery <= 0:
		return config.Invalid(ErrInvalidConfig, "HousekeepingEvery", t.HousekeepingEvery, "want > 0")
	}
	return nil
}

// Config is everything New takes besides its collaborators: the Tuning and
// what the worker wires in. Kinds and FollowUps are required.
type Config struct {
	Tuning
	// Kinds are the handlers of the task kinds the runner runs. A task of
	// another kind is dead-lettered as invalid.
	Kinds *Registry
	// FollowUps stores the follow-up tasks the handlers return, before the
	// tasks that made them are acknowledged.
	FollowUps Enqueuer
	// Confirm returns once the server has read every ack sent so far on the
	// connection the tasks came on (nats.Conn.FlushWithContext: one round
	// trip). A batch's acks are sent plain, then confirmed together by one
	// call, with a context bounded by WriteTimeout. An error is logged: the
	// tasks it concerns may be delivered again and rewritten. Required.
	Confirm func(ctx context.Context) error
	// Locker takes the series locks. Defaults to the DB's own
	// (session-level advisory locks).
	Locker Locker
	// Gate, if set, is asked before every pull whether to take tasks now
	// and how many: *ratelimit.Limiter holds pulls while the source's
	// breaker is open or the fleet's requests are booked far ahead, so
	// that tasks wait in the queue, not in the worker. Defaults to none.
	Gate Gate
	// WorkerID names the worker in dead letters. Defaults to "worker".
	WorkerID string
	// Observer, if set, is told about every settled task and batch (for
	// metrics). Defaults to none.
	Observer Observer
	// Housekeeping, if set, is called from the batch loop between batches
	// (never during one) at most every HousekeepingEvery, while the session
	// is up: the only place besides a batch where the session may be used,
	// since it is not safe for concurrent use. The worker computes and
	// publishes the connection budget there.
	Housekeeping func(ctx context.Context)
	// Faults are test-only pause points. Defaults to none.
	Faults Faults
	// Logger receives batch and task events; give it the worker's fields
	// (e.g. "worker"). Defaults to none (a zero Logger writes nothing).
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Tuning = c.Tuning.WithDefaults()
	c.WorkerID = cmp.Or(c.WorkerID, "worker")
	return c
}

// Validate checks c (after WithDefaults); the error wraps ErrInvalidConfig
// (a *config.FieldError for a field of the Tuning).
func (c Config) Validate() error {
	switch {
	case c.Kinds == nil || len(c.Kinds.kinds) == 0:
		return fmt.Errorf("%w: no task kinds registered", ErrInvalidConfig)
	case c.FollowUps == nil:
		return fmt.Errorf("%w: a follow-up enqueuer is required", ErrInvalidConfig)
	case c.Confirm == nil:
		return fmt.Errorf("%w: Confirm (the connection's flush) is required", ErrInvalidConfig)
	}
	return c.Tuning.Validate()
}
