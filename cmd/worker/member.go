package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/budget"
	"marketfleet/internal/backoff"
	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/queue"
	"marketfleet/runner"
	"marketfleet/slots"
	"marketfleet/source"
	"marketfleet/store"
)

// member is the worker's life in the fleet: wait for a connection slot,
// hold one PostgreSQL session while the slot is held, give both up together.
type member struct {
	cfg    *config
	log    zerolog.Logger
	health *health
	q      *queueSide
	src    source.Source
	pause  *pause
	mx     *metrics.Worker
	counts *taskCounts
	// lastBudget is the budget last logged by the slot-0 holder.
	lastBudget int
	// lastPrune is when the slot-0 holder last pruned old task counts.
	lastPrune time.Time
}

// run takes a slot, works while holding it, and goes back to waiting when
// it loses or gives up the slot, until ctx ends.
func (m *member) run(ctx context.Context) error {
	for failures := 0; ctx.Err() == nil; {
		lease, err := m.acquire(ctx)
		if err != nil {
			return stoppedIsNil(ctx, err)
		}
		m.mx.SlotHeld.Set(1)
		err = m.hold(ctx, lease)
		m.health.working.Store(false)
		m.mx.SlotHeld.Set(0)
		m.mx.Fleet.Clear()
		if reason := slotLoss(lease.Err()); reason != "" && ctx.Err() == nil {
			m.mx.SlotLosses.WithLabelValues(reason).Inc()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil {
			m.log.Warn().Err(rerr).Msg("could not free the connection slot; it frees itself after FLEET_SLOT_TTL")
		}
		cancel()
		switch {
		case ctx.Err() != nil:
		case err == nil:
			failures = 0
			m.log.Warn().Int("slot", lease.Slot()).AnErr("reason", lease.Err()).
				Msg("gave up the connection slot and closed the session; waiting for a slot again")
		case errors.Is(err, store.ErrBadConnString) || errors.Is(err, store.ErrUntrustedServer) || errors.Is(err, runner.ErrInvalidConfig):
			return err // no retry can fix the configuration
		default: // e.g. the session lost while migrating
			failures++
			delay := backoff.Default.Delay(failures)
			m.log.Warn().Err(err).Dur("retry_in", delay).Msg("could not start work; freed the slot, trying again")
			_ = backoff.Sleep(ctx, delay)
		}
	}
	return nil
}

// acquire waits for a slot, as marketfleet_slot_waiting and
// marketfleet_slot_wait_seconds_total show.
func (m *member) acquire(ctx context.Context) (*slots.Lease, error) {
	start := time.Now()
	m.mx.SlotWaiting.Set(1)
	defer func() {
		m.mx.SlotWaiting.Set(0)
		metrics.ObserveSince(m.mx.SlotWait, start)
	}()
	return m.q.slots.Acquire(ctx, m.cfg.WorkerID, m.limit)
}

// limit is how many slots this worker may try: the published budget (or
// slot 0 alone while none is published), under its own FLEET_MAX_SESSIONS.
func (m *member) limit(pub slots.Limit, ok bool) int {
	n := 1
	if ok {
		n = pub.Slots
	}
	if m.cfg.MaxSessions > 0 {
		n = min(n, m.cfg.MaxSessions)
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
				m.log.Error().Int("slot", lease.Slot()).Err(lease.Err()).Msg("connection slot lost: cutting the session now")
				if db := cur.Load(); db != nil {
					db.Abort()
				}
			}
		case <-hctx.Done():
		}
	}()
	defer func() { cancel(); <-watched }()

	db, err := openStore(hctx, m.cfg, m.log, m.health, m.mx, lease.Check)
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
		m.log.Info().Msg("postgres session closed")
	}()
	r, err := runner.New(m.q.fetcher, db, m.q.dead, runner.Config{
		Kinds: kinds.Register(kinds.Config{Source: m.src, Features: m.cfg.Features,
			RequestedBy: "worker/" + m.cfg.WorkerID, Logger: m.log}),
		FollowUps:        m.q.tasks,
		Observer:         observer{m: m.mx, counts: m.counts},
		WorkerID:         m.cfg.WorkerID,
		MaxDeliver:       m.cfg.MaxDeliver,
		FetchConcurrency: m.cfg.FetchConcurrency,
		Pipeline:         m.cfg.Pipeline,
		AckWait:          m.cfg.AckWait,
		Grace:            m.cfg.ShutdownGrace,
		Retry:            backoff.Policy{Base: m.cfg.RetryBase, Max: m.cfg.RetryMax},
		WriteTimeout:     m.cfg.WriteTimeout,
		Faults:           runner.Faults{BeforeCommit: m.pause.at("before-commit"), AfterCommit: m.pause.at("after-commit")},
		Housekeeping:     func(ctx context.Context) { m.housekeeping(ctx, lease, db) },
		Logger:           m.log,
	})
	if err != nil {
		return err
	}
	m.health.working.Store(true) // ready: slot, session, schema, loop
	return r.Run(hctx)
}

// housekeeping runs between batches, on the batch loop's goroutine (the
// only one that may use the session): it checks the session, stores the
// task counts so far, and keeps the budget.
func (m *member) housekeeping(ctx context.Context, lease *slots.Lease, db *store.Store) {
	// Bounded like a write: a black-holed server must not stall the loop.
	ctx, cancel := context.WithTimeout(ctx, m.cfg.WriteTimeout)
	defer cancel()
	// An idle session the server ended is noticed here, not at the next
	// batch: readiness and marketfleet_db_session_up say so at once, and
	// the loop reconnects.
	if err := db.Ping(ctx); err != nil {
		m.log.Warn().Err(err).Msg("postgres session check failed")
		return
	}
	m.flushCounts(ctx, db)
	m.keepBudget(ctx, lease, db)
}

// countsRetention is how long the task_counts table keeps a minute.
const countsRetention = 7 * 24 * time.Hour

// flushCounts adds this worker's task counts to the task_counts table (the
// failure rate fleetctl status shows). The slot-0 holder prunes old rows
// hourly.
func (m *member) flushCounts(ctx context.Context, db *store.Store) {
	rows := m.counts.take()
	if err := db.AddTaskCounts(ctx, rows); err != nil {
		m.counts.giveBack(rows)
		m.log.Debug().Err(err).Msg("could not store the task counts; kept for the next try")
	}
}

// keepBudget: the holder of slot 0 computes the budget from the live server
// and publishes it, and reports the fleet's view for the metrics; every
// holder gives its slot up when the budget no longer covers it.
func (m *member) keepBudget(ctx context.Context, lease *slots.Lease, db *store.Store) {
	var pub slots.Limit
	if lease.Slot() == 0 {
		l, err := db.ServerLimits(ctx)
		if err != nil {
			m.log.Warn().Err(err).Msg("could not read the server's connection limits")
			return
		}
		b := budget.Compute(budget.Server{MaxConnections: l.MaxConnections, SuperuserReserved: l.SuperuserReserved,
			RoleReserved: l.RoleReserved, Sessions: l.Sessions}, m.cfg.BudgetConfig())
		m.logBudget(b)
		m.reportFleet(ctx, l, b)
		m.prune(ctx, db)
		pub = slots.Limit{Slots: b.Slots, By: m.cfg.WorkerID, At: time.Now().UTC()}
		if err := m.q.slots.PublishLimit(ctx, pub); err != nil {
			m.log.Warn().Err(err).Msg("could not publish the connection budget")
		}
	} else {
		l, ok, err := m.q.slots.CurrentLimit(ctx)
		if err != nil || !ok {
			return // keep the slot until a budget says otherwise
		}
		pub = l
	}
	if n := m.limit(pub, true); lease.Slot() >= n {
		m.log.Warn().Int("slot", lease.Slot()).Int("budget", n).Msg("the connection budget no longer covers this slot: giving it up")
		lease.Revoke()
	}
}

// reportFleet sets the fleet's view of PostgreSQL and of the backlog that
// this worker exports while it holds slot 0.
func (m *member) reportFleet(ctx context.Context, l store.ServerLimits, b budget.Budget) {
	snap := metrics.FleetSnapshot{MaxConnections: l.MaxConnections, ReservedConnections: l.SuperuserReserved + l.RoleReserved,
		Sessions: l.Sessions, FleetPrefix: budget.DefaultFleetPrefix, BudgetSlots: b.Slots, OldestAge: map[string]float64{}}
	for _, c := range []string{m.cfg.Consumer, m.cfg.consumerConfig(true).Name} {
		bl, err := queue.BacklogOf(ctx, m.q.js, m.cfg.Stream, c)
		if err != nil {
			m.log.Debug().Err(err).Str("consumer", c).Msg("could not read the backlog")
			continue
		}
		snap.OldestAge[c] = 0
		if !bl.OldestWaiting.IsZero() {
			snap.OldestAge[c] = time.Since(bl.OldestWaiting).Seconds()
		}
	}
	m.mx.Fleet.Set(snap)
}

// prune drops task counts older than countsRetention, hourly.
func (m *member) prune(ctx context.Context, db *store.Store) {
	if time.Since(m.lastPrune) < time.Hour {
		return
	}
	m.lastPrune = time.Now()
	if _, err := db.PruneTaskCounts(ctx, time.Now().Add(-countsRetention)); err != nil {
		m.log.Debug().Err(err).Msg("could not prune old task counts")
	}
}

func (m *member) logBudget(b budget.Budget) {
	if b.Slots == m.lastBudget {
		return
	}
	m.lastBudget = b.Slots
	ev := m.log.Info()
	if b.Slots == 0 {
		ev = m.log.Error()
	}
	ev.Int("slots", b.Slots).Int("max_connections", b.MaxConnections).Int("superuser_reserved", b.SuperuserReserved).
		Int("reserved", b.RoleReserved).Int("reserve", b.Reserve).Int("other_sessions", b.Others).
		Int("computed", b.Computed).Int("cap", b.Cap).Msg("connection budget")
}
