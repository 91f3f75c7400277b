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
	// Locker: the session's advisory locks are the series locks, unless
	// Config.Locker gives others.
	Locker
}

// Locker makes the tasks of a series exclusive across the fleet.
// *store.Store implements it with session-level advisory locks (they die
// with the session); *leases.Table with NATS KV leases, for a worker behind
// a transaction-mode pooler, where a session holds nothing.
type Locker interface {
	// LockSeries tries to take the fleet-wide lock of each series and
	// reports which it took (false: another worker runs a task of it).
	LockSeries(ctx context.Context, series []market.Series) ([]bool, error)
	// UnlockSeries releases one hold of each series' lock.
	UnlockSeries(ctx context.Context, series []market.Series) error
	// Epoch identifies the locks held: those taken in another epoch are
	// gone (a store's session was lost, a lease expired) and must be taken
	// again before the batch writes.
	Epoch() int
}

// Gate admits tasks: Admit returns hold > 0 when the worker should take
// none for that long, and otherwise room, how many it may take now (at
// least 1). On an error the runner takes up to room (the tasks' own waits
// decide). *ratelimit.Limiter implements it.
type Gate interface {
	Admit(ctx context.Context) (hold time.Duration, room int, err error)
}

// Enqueuer publishes follow-up tasks, and puts a deferred task back at the
// end of the queue; *queue.Publisher implements it. Both must return only
// once the message is stored (or a duplicate).
type Enqueuer interface {
	Publish(ctx context.Context, ts []tasks.Task) (queue.Result, error)
	Requeue(ctx context.Context, msg jetstream.Msg) error
}

var _ Enqueuer = (*queue.Publisher)(nil)

var _ DB = (*store.Store)(nil)

// DeadLetterer stores a task the runner gives up on; *dlq.Writer implements
// it. Write must return only once the dead letter is safely stored.
type DeadLetterer interface {
	Write(ctx context.Context, msg jetstream.Msg, l dlq.Letter) error
}

var _ DeadLetterer = (*dlq.Writer)(nil)

// Runner is one worker's batch loop. Create it with New; call Run once.
type Runner struct {
	cfg     Config
	fetcher *queue.Fetcher
	db      DB
	locks   Locker
	kinds   *Registry
	dead    DeadLetterer
	log     zerolog.Logger
	batches uint64
	// ackWait and maxDeliver are the consumer's: InProgress is sent every
	// ackWait/3, and a transient failure on delivery maxDeliver is final.
	ackWait    time.Duration
	maxDeliver int
	// holding: the last pull was held by the Gate (for its log lines).
	holding bool
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
// the tasks it gives up on with dead. AckWait and MaxDeliver are the
// fetcher's consumer's. It returns an error wrapping ErrInvalidConfig when
// cfg is invalid.
func New(fetcher *queue.Fetcher, db DB, dead DeadLetterer, cfg Config) (*Runner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fetcher == nil || db == nil || dead == nil {
		return nil, fmt.Errorf("%w: fetcher, db and dead-letter writer are required", ErrInvalidConfig)
	}
	locks := cfg.Locker
	if locks == nil {
		locks = db
	}
	return &Runner{cfg: cfg, fetcher: fetcher, db: db, locks: locks, kinds: cfg.Kinds, dead: dead, log: cfg.Logger,
		ackWait: max(fetcher.AckWait(), time.Second), maxDeliver: fetcher.MaxDeliver(),
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
		msgs, err := r.next(ctx, inflight, lastChores)
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, errHeld):
				// the gate holds pulls: the chores, batches in flight and
				// settlements go on; ask again
			case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
				// the chores are due, a batch's fetches or a settlement are done
			default:
				failures++
				delay := backoff.Default.Delay(failures)
				r.log.Warn().Err(err).Stringer("retry_in", delay).Msg("fetch failed")
				_ = backoff.Sleep(ctx, delay)
			}
			continue
		}
		failures = 0
		inflight = append(inflight, r.begin(ctx, msgs, heldBy(inflight)))
	}
	for _, b := range inflight {
		r.finish(b)
	}
	r.joinSettled()
	r.returnUnstarted(ctx)
	r.log.Info().Uint64("batches", r.batches).Msg("worker stopped")
	return nil
}

// next takes the next messages from the fetcher. An idle queue must not
// hold up the chores, nor the oldest batch in flight once its fetches are
// done, nor the report of a settled batch: the pull waits no longer than
// any of them (the open pull carries over to the next call).
func (r *Runner) next(ctx context.Context, inflight []*batch, lastChores time.Time) ([]jetstream.Msg, error) {
	var fctx context.Context
	var fcancel context.CancelFunc
	if r.cfg.Housekeeping != nil {
		fctx, fcancel = context.WithDeadline(ctx, lastChores.Add(r.cfg.HousekeepingEvery))
	} else {
		fctx, fcancel = context.WithCancel(ctx)
	}
	defer fcancel()
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
	room := r.fetcher.Size()
	if r.cfg.Gate != nil {
		hold, n, err := r.cfg.Gate.Admit(fctx)
		switch {
		case err != nil:
			room = min(room, max(n, 1))
		case hold > 0:
			if !r.holding {
				r.log.Info().Stringer("for", hold.Round(time.Millisecond)).
					Msg("taking no tasks: the source is paused or the fleet's requests are booked ahead (FLEET_SOURCE_MAX_WAIT)")
				r.holding = true
			}
			_ = backoff.Sleep(fctx, hold)
			return nil, errHeld
		default:
			room = n
		}
	}
	if r.holding {
		r.log.Info().Msg("taking tasks again")
		r.holding = false
	}
	return r.fetcher.NextUpTo(fctx, room)
}

// heldBy returns the series whose locks the batches in flight hold.
func heldBy(inflight []*batch) map[market.Series]bool {
	busy := map[market.Series]bool{}
	for _, b := range inflight {
		maps.Copy(busy, b.held())
	}
	return busy
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
		t := time.NewTicker(r.ackWait / 3)
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
