package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/runner"
	"marketfleet/slots"
	"marketfleet/source"
	"marketfleet/store"
)

// member is the worker's life in the fleet: wait for a connection slot,
// hold one PostgreSQL session while the slot is held, give both up
// together.
type member struct {
	w      *Worker
	q      *queueSide
	src    source.Source
	gate   runner.Gate // nil: the source's rate is unlimited
	counts *taskCounts
	// lastBudget is the budget last logged by the reporter, -1 before the
	// first (so that a first budget of 0 is logged too).
	lastBudget int
	// reporting: this worker holds the lowest held slot (slot 0, or the
	// lowest while slot 0 is vacant) and does the fleet's chores: the
	// budget, the fleet metrics, the sweeps and the audit.
	reporting bool
	// lastPrune is when the slot-0 holder last pruned old task counts;
	// lastSweep when it last looked for series owed a restatement;
	// lastSettle when it last looked for provisional bars due;
	// lastAuditCheck when it last checked whether an audit is due.
	lastPrune, lastSweep, lastSettle, lastAuditCheck time.Time
	// auditRetryAt is when a failed periodic audit may run again.
	auditRetryAt time.Time
}

// run takes a slot, works while holding it, and goes back to waiting when
// it loses or gives up the slot, until ctx ends. It returns an error only
// for a configuration no retry can fix.
func (m *member) run(ctx context.Context) error {
	log, mx := m.w.log, m.w.mx
	for failures := 0; ctx.Err() == nil; {
		lease, err := m.acquire(ctx)
		if err != nil {
			return stoppedIsNil(ctx, err)
		}
		mx.SlotHeld.Set(1)
		err = m.hold(ctx, lease)
		m.w.health.working.Store(false)
		mx.SlotHeld.Set(0)
		mx.Fleet.Clear()
		m.clearHistoryView()
		m.reporting = false
		if reason := slotLoss(lease.Err()); reason != "" && ctx.Err() == nil {
			mx.SlotLosses.WithLabelValues(reason).Inc()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil {
			log.Warn().Err(rerr).Msg("could not free the connection slot; it frees itself after the slot TTL")
		}
		cancel()
		switch {
		case ctx.Err() != nil:
		case err == nil:
			failures = 0
			log.Warn().Int("slot", lease.Slot()).AnErr("reason", lease.Err()).
				Msg("gave up the connection slot and closed the session; waiting for a slot again")
		case errors.Is(err, store.ErrBadConnString) || errors.Is(err, store.ErrUntrustedServer) || errors.Is(err, store.ErrBehindPooler) ||
			errors.Is(err, runner.ErrInvalidConfig):
			return err // no retry can fix the configuration
		case errors.Is(err, store.ErrSchemaBroken):
			return err // no retry can fix the schema: stop, loudly
		default: // e.g. the session lost while migrating
			failures++
			delay := backoff.Default.Delay(failures)
			log.Warn().Err(err).Stringer("retry_in", delay).Msg("could not start work; freed the slot, trying again")
			_ = backoff.Sleep(ctx, delay)
		}
	}
	return nil
}

// acquire waits for a slot, as marketfleet_slot_waiting and
// marketfleet_slot_wait_seconds_total show.
func (m *member) acquire(ctx context.Context) (*slots.Lease, error) {
	start := time.Now()
	m.w.mx.SlotWaiting.Set(1)
	defer func() {
		m.w.mx.SlotWaiting.Set(0)
		metrics.ObserveSince(m.w.mx.SlotWait, start)
	}()
	return m.q.slots.Acquire(ctx, m.w.cfg.ID, m.limit)
}

// limit is how many slots this worker may try: the published budget (or
// slot 0 alone while none is published), under its own cap.
func (m *member) limit(pub slots.Limit, ok bool) int {
	n := 1
	if ok {
		n = pub.Slots
	}
	if c := m.w.cfg.budgetConfig().Cap; c > 0 {
		n = min(n, c)
	}
	return n
}

// hold opens the session the lease allows and runs batches until ctx ends or
// the lease is lost or revoked. A lost lease cuts the session at once
// (another worker may take the slot soon); a revoked one ends it after the
// batch in hand.
func (m *member) hold(ctx context.Context, lease *slots.Lease) error {
	hctx, cancel := context.WithCancel(ctx)
	var cur atomic.Pointer[store.Store]
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-lease.Lost():
			cancel()
			if errors.Is(lease.Err(), slots.ErrLost) {
				m.w.log.Error().Int("slot", lease.Slot()).Err(lease.Err()).Msg("connection slot lost: cutting the session now")
				if db := cur.Load(); db != nil {
					db.Abort()
				}
			}
		case <-hctx.Done():
		}
	}()
	defer func() { cancel(); <-watched }()

	db, err := m.openStore(hctx, lease.Check)
	if err != nil {
		return stoppedIsNil(hctx, err)
	}
	cur.Store(db)
	if lease.Check(hctx) != nil { // lost between the connect and now
		db.Abort()
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		m.flushCounts(cctx, db) // the last counts, if the session is still there
		_ = db.Close(cctx)
		m.w.log.Info().Msg("postgres session closed")
	}()
	var broken error
	r, err := m.runner(db, lease, func(err error) { broken = err; cancel() })
	if err != nil {
		return err
	}
	m.w.health.working.Store(true) // ready: slot, session, schema, loop
	if err := r.Run(hctx); err != nil {
		return err
	}
	return broken
}

// openStore opens the worker's one PostgreSQL session, which gate must
// allow, and migrates the schema unless told not to.
func (m *member) openStore(ctx context.Context, gate func(context.Context) error) (*store.Store, error) {
	cfg, h, mx := m.w.cfg, m.w.health, m.w.mx
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Config{ApplicationName: cfg.appName(), Logger: m.w.log,
		StatementTimeout: cfg.StatementTimeout, ReapStaleSessions: true, ConnectGate: gate,
		Remigrate: !cfg.SkipMigrate, SessionState: true, Pooler: cfg.DBPooler != "",
		OnSession: func(up bool) { h.session.Store(up); mx.DBSessionUp.Set(b2f(up)) },
		OnConnect: connectHook(mx)})
	if err != nil {
		return nil, err
	}
	if !cfg.SkipMigrate {
		if _, err := db.Migrate(ctx); err != nil {
			_ = db.Close(context.Background())
			return nil, err
		}
	}
	return db, nil
}

// runner is the batch pipeline on db, with every kind this build runs. Its
// housekeeping calls stop when the store found the schema broken.
func (m *member) runner(db *store.Store, lease *slots.Lease, stop func(error)) (*runner.Runner, error) {
	cfg := m.w.cfg
	return runner.New(m.q.fetcher, db, m.q.dead, runner.Config{
		Tuning: cfg.Runner,
		Kinds: kinds.Register(kinds.Config{Source: m.src, History: m.w.hist, Features: !cfg.SkipFeatures, Deadline: cfg.Source.TaskDeadline,
			RequestedBy: "worker/" + cfg.ID, Logger: m.w.log, Restated: m.restated, Repaired: m.repaired, Empty: m.empty}),
		FollowUps: m.q.tasks,
		Confirm:   m.q.nc.FlushWithContext,
		Locker:    m.q.locker(),
		Gate:      m.gate,
		WorkerID:  cfg.ID,
		Observer:  observer{m: m.w.mx, counts: m.counts},
		Housekeeping: func(ctx context.Context) {
			m.housekeeping(ctx, lease, db)
			if err := db.SchemaError(); err != nil {
				stop(err)
			}
		},
		Faults: cfg.Faults,
		Logger: m.w.log,
	})
}
