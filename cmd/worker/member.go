package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/budget"
	"marketfleet/internal/backoff"
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
	// lastBudget is the budget last logged by the slot-0 holder.
	lastBudget int
}

// run takes a slot, works while holding it, and goes back to waiting when
// it loses or gives up the slot, until ctx ends.
func (m *member) run(ctx context.Context) error {
	for ctx.Err() == nil {
		lease, err := m.q.slots.Acquire(ctx, m.cfg.WorkerID, m.limit)
		if err != nil {
			return stoppedIsNil(ctx, err)
		}
		m.health.slot.Store(true)
		err = m.hold(ctx, lease)
		m.health.slot.Store(false)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil {
			m.log.Warn().Err(rerr).Msg("could not free the connection slot; it frees itself after FLEET_SLOT_TTL")
		}
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() == nil {
			m.log.Warn().Int("slot", lease.Slot()).AnErr("reason", lease.Err()).
				Msg("gave up the connection slot and closed the session; waiting for a slot again")
		}
	}
	return nil
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

	db, err := openStore(hctx, m.cfg, m.log, m.health, lease.Check, m.pause.at("before-commit"))
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
		_ = db.Close(cctx)
		m.log.Info().Msg("postgres session closed")
	}()
	var followUps runner.Enqueuer
	if m.cfg.Features {
		followUps = m.q.tasks
	}
	r, err := runner.New(m.q.fetcher, db, m.src, m.q.dead, runner.Config{
		FollowUps:        followUps,
		WorkerID:         m.cfg.WorkerID,
		MaxDeliver:       m.cfg.MaxDeliver,
		FetchConcurrency: m.cfg.FetchConcurrency,
		AckWait:          m.cfg.AckWait,
		Grace:            m.cfg.ShutdownGrace,
		Retry:            backoff.Policy{Base: m.cfg.RetryBase, Max: m.cfg.RetryMax},
		WriteTimeout:     m.cfg.WriteTimeout,
		AfterCommit:      m.pause.at("after-commit"),
		Housekeeping:     func(ctx context.Context) { m.keepBudget(ctx, lease, db) },
		Logger:           &m.log,
	})
	if err != nil {
		return err
	}
	return r.Run(hctx)
}

// keepBudget runs between batches. The holder of slot 0 computes the budget
// from the live server and publishes it; every holder gives its slot up
// when the budget no longer covers it.
func (m *member) keepBudget(ctx context.Context, lease *slots.Lease, db *store.Store) {
	var pub slots.Limit
	if lease.Slot() == 0 {
		l, err := db.ServerLimits(ctx)
		if err != nil {
			m.log.Warn().Err(err).Msg("could not read the server's connection limits")
			return
		}
		b := budget.Compute(l, m.cfg.BudgetConfig())
		m.logBudget(b)
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
