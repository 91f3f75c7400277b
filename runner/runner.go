package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/store"
	"marketfleet/tasks"
)

// DB is what the runner needs from the worker's single session; *store.Store
// implements it.
type DB interface {
	// Reader is what the handlers' Prepare phase may read.
	store.Reader
	// EnsureSession blocks until the session is up or ctx ends.
	EnsureSession(ctx context.Context) error
	// InTx runs fn in one transaction and commits it if fn returns nil.
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
	// Up reports whether the session is (still) up.
	Up() bool
	// LockSeries tries to take the fleet-wide lock of each series.
	LockSeries(ctx context.Context, series []market.Series) ([]bool, error)
	// UnlockSeries releases one hold of each series' lock.
	UnlockSeries(ctx context.Context, series []market.Series) error
	// Opened counts the sessions opened so far: locks taken while it read n
	// are gone once it reads more.
	Opened() int
}

// Enqueuer publishes follow-up tasks; *queue.Publisher implements it.
// Publish must return only once every task is stored (or a duplicate).
type Enqueuer interface {
	Publish(ctx context.Context, ts []tasks.Task) (queue.Result, error)
}

var _ Enqueuer = (*queue.Publisher)(nil)

var _ DB = (*store.Store)(nil)

// DeadLetterer stores a task the runner gives up on; *dlq.Writer implements
// it. Write must return only once the dead letter is safely stored.
type DeadLetterer interface {
	Write(ctx context.Context, msg jetstream.Msg, l dlq.Letter) error
}

var _ DeadLetterer = (*dlq.Writer)(nil)

// Config tunes a Runner. Zero fields take the defaults documented on each;
// Kinds and FollowUps are required.
type Config struct {
	// Kinds are the handlers of the task kinds the runner runs. A task of
	// another kind is dead-lettered as invalid.
	Kinds *Registry
	// FollowUps stores the follow-up tasks the handlers return, before the
	// tasks that made them are acknowledged.
	FollowUps Enqueuer
	// WorkerID names the worker in dead letters. Defaults to "worker".
	WorkerID string
	// MaxDeliver is the consumer's MaxDeliver: a transient failure on that
	// delivery is dead-lettered as "exhausted". Defaults to 10.
	MaxDeliver int
	// FetchConcurrency bounds concurrent source requests across the
	// batches in flight. Defaults to 20.
	FetchConcurrency int
	// Pipeline is how many batches may be begun (fetching) and not yet
	// written; one more may be being settled. 1 runs one batch at a time.
	// Defaults to 2.
	Pipeline int
	// AckWait is the consumer's AckWait: while a batch runs longer than a
	// third of it, the runner sends InProgress for its messages. Defaults to
	// 30s.
	AckWait time.Duration
	// Grace bounds how long the current batch may take to finish (fetch,
	// commit, ack) once shutdown begins. Defaults to 25s.
	Grace time.Duration
	// Retry computes NakWithDelay delays from the delivery count. Defaults
	// to 2s doubling up to 2m, with jitter.
	Retry backoff.Policy
	// WriteTimeout bounds one write of a batch (its transaction, commit
	// included), and each other database call of a batch (series locks, a
	// kind's Prepare phase), on the client side; pgx then closes the
	// session, and the batch is replayed on a new one. Defaults to 45s
	// (above the store's 30s statement timeout).
	WriteTimeout time.Duration
	// ReplayWindow bounds how long a batch whose session was lost waits for
	// a new session before its tasks are Nak'ed instead. Defaults to 30s.
	ReplayWindow time.Duration
	// Observer, if set, is told about every settled task and batch (for
	// metrics). Defaults to none.
	Observer Observer
	// Faults are test-only pause points. Defaults to none.
	Faults Faults
	// Housekeeping, if set, is called from the batch loop between batches
	// (never during one) at most every HousekeepingEvery, while the session
	// is up: the only place besides a batch where the session may be used,
	// since it is not safe for concurrent use. The worker computes and
	// publishes the connection budget there.
	Housekeeping func(ctx context.Context)
	// HousekeepingEvery defaults to 5s.
	HousekeepingEvery time.Duration
	// Logger receives batch and task events; give it the worker's fields
	// (e.g. "worker"). Defaults to none (a zero Logger writes nothing).
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.WorkerID == "" {
		c.WorkerID = "worker"
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if c.FetchConcurrency == 0 {
		c.FetchConcurrency = 20
	}
	if c.Pipeline == 0 {
		c.Pipeline = 2
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = 25 * time.Second
	}
	if c.Retry == (backoff.Policy{}) {
		c.Retry = backoff.Policy{Base: 2 * time.Second, Max: 2 * time.Minute}
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 45 * time.Second
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = 30 * time.Second
	}
	if c.HousekeepingEvery == 0 {
		c.HousekeepingEvery = 5 * time.Second
	}
	return c
}

// ErrInvalidConfig is wrapped by New's validation errors.
var ErrInvalidConfig = errors.New("invalid runner configuration")

func (c Config) validate() error {
	switch {
	case c.MaxDeliver < 1:
		return fmt.Errorf("%w: max deliver %d, want >= 1", ErrInvalidConfig, c.MaxDeliver)
	case c.FetchConcurrency < 1:
		return fmt.Errorf("%w: fetch concurrency %d, want >= 1", ErrInvalidConfig, c.FetchConcurrency)
	case c.Pipeline < 1 || c.Pipeline > 8:
		return fmt.Errorf("%w: pipeline %d, want 1..8", ErrInvalidConfig, c.Pipeline)
	case c.AckWait < time.Second:
		return fmt.Errorf("%w: ack wait %s, want >= 1s", ErrInvalidConfig, c.AckWait)
	case c.WriteTimeout < time.Second || c.ReplayWindow < 0:
		return fmt.Errorf("%w: write timeout %s, replay window %s", ErrInvalidConfig, c.WriteTimeout, c.ReplayWindow)
	case c.Grace <= 0:
		return fmt.Errorf("%w: grace %s, want > 0", ErrInvalidConfig, c.Grace)
	case c.Kinds == nil || len(c.Kinds.kinds) == 0:
		return fmt.Errorf("%w: no task kinds registered", ErrInvalidConfig)
	case c.FollowUps == nil:
		return fmt.Errorf("%w: a follow-up enqueuer is required", ErrInvalidConfig)
	}
	return nil
}

// Runner is one worker's batch loop. Create it with New; call Run once.
type Runner struct {
	cfg     Config
	fetcher *queue.Fetcher
	db      DB
	kinds   *Registry
	dead    DeadLetterer
	log     zerolog.Logger
	batches uint64
	// settling is the batch being settled, nil when none.
	settling *settling
	// fetchSlots bounds the source fetches in flight, across the batches
	// in flight (up to Pipeline), to FetchConcurrency.
	fetchSlots chan struct{}
	// unreleased are series locks an unlock failed to release, in session
	// number session.
	unreleased struct {
		session int
		series  []market.Series
	}
}

// New returns a Runner that takes batches from fetcher, runs each task
// through its kind's handler (Config.Kinds), writes through db and stores
// the tasks it gives up on with dead. It returns an error wrapping
// ErrInvalidConfig when cfg is invalid.
func New(fetcher *queue.Fetcher, db DB, dead DeadLetterer, cfg Config) (*Runner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if fetcher == nil || db == nil || dead == nil {
		return nil, fmt.Errorf("%w: fetcher, db and dead-letter writer are required", ErrInvalidConfig)
	}
	return &Runner{cfg: cfg, fetcher: fetcher, db: db, kinds: cfg.Kinds, dead: dead, log: cfg.Logger,
		fetchSlots: make(chan struct{}, cfg.FetchConcurrency)}, nil
}

// Run processes batches until ctx is cancelled, then finishes the batches in
// hand, Naks the messages it received but did not start, and returns nil. It
// fetches nothing while it has no database session.
//
// It keeps up to Config.Pipeline batches begun (2 by default): while one
// batch's source fetches run, it takes the next messages and begins the
// next batch; then it finishes the oldest. All database work stays on this
// goroutine, one statement at a time.
func (r *Runner) Run(ctx context.Context) error {
	r.log.Info().Msg("worker running")
	var lastChores time.Time
	var inflight []*batch // begun, not finished, oldest first
	for failures := 0; ctx.Err() == nil; {
		if err := r.db.EnsureSession(ctx); err != nil {
			break // ctx is done, or the connect gate closed (which cancels ctx)
		}
		if r.cfg.Housekeeping != nil && time.Since(lastChores) >= r.cfg.HousekeepingEvery {
			r.cfg.Housekeeping(ctx)
			lastChores = time.Now()
			if ctx.Err() != nil {
				break
			}
			if !r.db.Up() { // the chores found the session gone: no fetch without one
				continue
			}
		}
		if r.settling != nil && isDone(r.settling.done) {
			r.joinSettled() // report it now, not when the next batch is settled
		}
		// The oldest batch is finished once its fetches are done, or as soon
		// as they are when the pipeline is full.
		if n := len(inflight); n > 0 && (n >= r.cfg.Pipeline || isDone(inflight[0].fetched)) {
			r.finish(inflight[0])
			inflight = inflight[1:]
			continue
		}
		// An idle queue must not hold up the chores, nor the oldest batch
		// once its fetches are done, nor the report of a settled batch: the
		// pull waits no longer (the open pull carries over).
		fctx, fcancel := context.WithCancel(ctx)
		if r.cfg.Housekeeping != nil {
			fctx, fcancel = context.WithDeadline(ctx, lastChores.Add(r.cfg.HousekeepingEvery))
		}
		var fetched, settled <-chan struct{} // nil: never ready
		if len(inflight) > 0 {
			fetched = inflight[0].fetched
		}
		if r.settling != nil {
			settled = r.settling.done
		}
		if fetched != nil || settled != nil {
			go func() {
				select {
				case <-fetched:
					fcancel()
				case <-settled:
					fcancel()
				case <-fctx.Done():
				}
			}()
		}
		msgs, err := r.fetcher.Next(fctx)
		fcancel()
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
				// the chores are due, a batch's fetches or a settlement are done
			default:
				failures++
				delay := backoff.Default.Delay(failures)
				r.log.Warn().Err(err).Dur("retry_in", delay).Msg("fetch failed")
				_ = backoff.Sleep(ctx, delay)
			}
			continue
		}
		failures = 0
		busy := map[market.Series]bool{}
		for _, b := range inflight {
			maps.Copy(busy, b.held())
		}
		inflight = append(inflight, r.begin(ctx, msgs, busy))
	}
	for _, b := range inflight {
		r.finish(b)
	}
	r.joinSettled()
	r.returnUnstarted(ctx)
	r.log.Info().Uint64("batches", r.batches).Msg("worker stopped")
	return nil
}

// isDone reports whether ch is closed.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// returnUnstarted Naks the messages the open pull still delivers, so that
// other workers take them at once instead of after AckWait.
func (r *Runner) returnUnstarted(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Grace)
	defer cancel()
	msgs := r.fetcher.Drain(dctx)
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			r.log.Warn().Err(err).Msg("nak unstarted task")
		}
	}
	if len(msgs) > 0 {
		r.log.Info().Int("tasks", len(msgs)).Msg("returned unstarted tasks to the queue")
	}
}

// batchContext returns a context for one batch that survives ctx's
// cancellation for up to Grace, so a batch under way at shutdown still
// commits and acks.
func (r *Runner) batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.Grace, cancel) })
	return bctx, func() { stop(); cancel() }
}

// progress sends InProgress for msgs every AckWait/3 until stopped, so a
// slow batch is not redelivered to another worker while it still runs.
func (r *Runner) progress(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress() // best effort: a lost one means an early redelivery
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
