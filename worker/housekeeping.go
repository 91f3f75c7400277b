package worker

import (
	"context"
	"time"

	"marketfleet/budget"
	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/queue"
	"marketfleet/slots"
	"marketfleet/store"
	"marketfleet/tasks"
)

// housekeeping runs between batches, on the batch loop's goroutine (the
// only one that may use the session): it checks the session, stores the
// task counts so far, and keeps the budget.
func (m *member) housekeeping(ctx context.Context, lease *slots.Lease, db *store.Store) {
	parent := ctx
	// Bounded like a write: a black-holed server must not stall the loop.
	ctx, cancel := context.WithTimeout(ctx, m.w.cfg.Runner.WriteTimeout)
	defer cancel()
	// An idle session the server ended is noticed here, not at the next
	// batch: readiness and marketfleet_db_session_up say so at once, and
	// the loop reconnects.
	if err := db.Ping(ctx); err != nil {
		m.w.log.Warn().Err(err).Msg("postgres session check failed")
		return
	}
	m.flushCounts(ctx, db)
	m.keepBudget(ctx, lease, db)
	if m.reporting {
		m.auditIfDue(parent, db)
	}
}

// countsRetention is how long the task_counts table keeps a minute.
const countsRetention = 7 * 24 * time.Hour

// flushCounts adds this worker's task counts to the task_counts table (the
// failure rate fleetctl status shows) and its delayed tasks to the
// delayed_tasks table (the tasks status shows waiting on a delay).
func (m *member) flushCounts(ctx context.Context, db *store.Store) {
	rows := m.counts.take()
	if err := db.AddTaskCounts(ctx, rows); err != nil {
		m.counts.giveBack(rows)
		m.w.log.Debug().Err(err).Msg("could not store the task counts; kept for the next try")
	}
	delayed := m.counts.takeDelayed(time.Now())
	if err := db.AddDelayedTasks(ctx, delayed); err != nil {
		m.counts.giveBackDelayed(delayed)
		m.w.log.Debug().Err(err).Msg("could not store the delayed tasks; kept for the next try")
	}
}

// keepBudget: the reporter (the holder of slot 0, or of the lowest held
// slot while slot 0 is vacant, see reports) computes the budget from the
// live server and publishes it, keyed by its database, reports the fleet's
// view for the metrics, and prunes old task counts hourly; every holder
// gives its slot up when the budget no longer covers it.
func (m *member) keepBudget(ctx context.Context, lease *slots.Lease, db *store.Store) {
	pub, ok, err := m.q.slots.CurrentLimit(ctx)
	if err != nil && lease.Slot() != 0 {
		return // keep the slot until a budget says otherwise
	}
	was := m.reporting
	if m.reporting = m.reports(ctx, lease, pub, ok); was && !m.reporting {
		m.w.mx.Fleet.Clear() // another worker reports now
		m.clearHistoryView()
	}
	if m.reporting {
		l, err := db.ServerLimits(ctx)
		if err != nil {
			m.w.log.Warn().Err(err).Msg("could not read the server's connection limits")
			return
		}
		b := budget.Compute(budget.Server{MaxConnections: l.MaxConnections, SuperuserReserved: l.SuperuserReserved,
			RoleReserved: l.RoleReserved, Sessions: l.Sessions}, m.w.cfg.budgetConfig())
		m.logBudget(b)
		m.reportFleet(ctx, l, b)
		m.prune(ctx, db)
		m.sweepRestatements(ctx, db)
		m.settleProvisional(ctx, db)
		pub = slots.Limit{Slots: b.Slots, By: m.w.cfg.ID, At: time.Now().UTC(), Database: m.w.cfg.SlotsConfig().Database,
			Arithmetic: b.Arithmetic()}
		if err := m.q.slots.PublishLimit(ctx, pub); err != nil {
			m.w.log.Warn().Err(err).Msg("could not publish the connection budget")
		}
	} else if !ok {
		return // keep the slot until a budget says otherwise
	}
	n := m.limit(pub, true)
	m.w.peers.Store(int64(n))
	if lease.Slot() >= n {
		m.w.log.Warn().Int("slot", lease.Slot()).Int("budget", n).Msg("the connection budget no longer covers this slot: giving it up")
		lease.Revoke()
	}
}

// reports says whether this worker does the fleet's chores: it holds slot
// 0, or the published budget is missing or stale (its reporter is gone and
// slot 0 may be vacant) and no held slot is lower than this one's. A lone
// worker on slot 1 therefore publishes a budget instead of none being
// published at all.
func (m *member) reports(ctx context.Context, lease *slots.Lease, pub slots.Limit, ok bool) bool {
	if lease.Slot() == 0 {
		return true
	}
	if ok && time.Since(pub.At) < 3*m.w.cfg.Runner.HousekeepingEvery {
		// A reporter is alive: another (it goes on; a new holder of slot
		// 0 reports at once, and this one then stops), or this one.
		return pub.By == m.w.cfg.ID
	}
	st, err := m.q.slots.State(ctx)
	if err != nil {
		return false
	}
	for _, h := range st.Held {
		if h.Slot < lease.Slot() {
			return false
		}
	}
	if !m.reporting {
		m.w.log.Info().Int("slot", lease.Slot()).Msg("no worker holds a lower slot: this one publishes the connection budget")
	}
	return true
}

// reportFleet sets the fleet's view of PostgreSQL and of the backlog that
// this worker exports while it holds slot 0.
func (m *member) reportFleet(ctx context.Context, l store.ServerLimits, b budget.Budget) {
	cfg := m.w.cfg
	snap := metrics.FleetSnapshot{MaxConnections: l.MaxConnections, ReservedConnections: l.SuperuserReserved + l.RoleReserved,
		Sessions: l.Sessions, FleetPrefix: cfg.Budget.FleetPrefix, BudgetSlots: b.Slots, OldestAge: map[string]float64{}}
	for _, c := range []string{cfg.Consumer.Name, cfg.priorityConsumer().Name} {
		bl, err := queue.BacklogOf(ctx, m.q.js, cfg.Stream.Name, c)
		if err != nil {
			m.w.log.Debug().Err(err).Str("consumer", c).Msg("could not read the backlog")
			continue
		}
		snap.OldestAge[c] = 0
		if !bl.OldestWaiting.IsZero() {
			snap.OldestAge[c] = time.Since(bl.OldestWaiting).Seconds()
		}
	}
	snap.DeadLetterUsed = map[string]float64{}
	for _, name := range []string{cfg.DLQ.Name, cfg.DLQ.RefusedName} {
		s, err := m.q.js.Stream(ctx, name)
		if err != nil {
			m.w.log.Debug().Err(err).Str("stream", name).Msg("could not read the dead-letter stream")
			continue
		}
		if c := s.CachedInfo(); c.Config.MaxBytes > 0 {
			snap.DeadLetterUsed[cfg.deadLetterLabel(name)] = float64(c.State.Bytes) / float64(c.Config.MaxBytes)
		}
	}
	m.w.mx.Fleet.Set(snap)
}

// prune drops task counts older than countsRetention, hourly.
func (m *member) prune(ctx context.Context, db *store.Store) {
	if time.Since(m.lastPrune) < time.Hour {
		return
	}
	m.lastPrune = time.Now()
	if _, err := db.PruneTaskCounts(ctx, time.Now().Add(-countsRetention)); err != nil {
		m.w.log.Debug().Err(err).Msg("could not prune old task counts")
	}
	if _, err := db.PruneDelayedTasks(ctx, time.Now().Add(-time.Hour)); err != nil {
		m.w.log.Debug().Err(err).Msg("could not prune old delayed tasks")
	}
}

// Restatement sweep: how often the holder of slot 0 looks for series a
// restatement is still owed to, among the symbols with an action first
// seen within the lookback.
const (
	restateSweepEvery    = 10 * time.Minute
	restateSweepLookback = 7 * 24 * time.Hour
)

// sweepRestatements enqueues a restate task for every series an action
// first seen within restateSweepLookback has not been applied to yet. The
// collect tasks enqueue them as they reveal actions; the sweep catches the
// rest (a collect task whose follow-ups could not be stored on its last
// delivery, a restate task that ran out of retries). Its tasks' message ids
// depend on the day, so within the dedup window a sweep enqueues each once.
func (m *member) sweepRestatements(ctx context.Context, db *store.Store) {
	if time.Since(m.lastSweep) < restateSweepEvery {
		return
	}
	m.lastSweep = time.Now()
	series, err := db.UnrestatedSince(ctx, time.Now().Add(-restateSweepLookback))
	if err != nil || len(series) == 0 {
		if err != nil {
			m.w.log.Debug().Err(err).Msg("could not look for series owed a restatement")
		}
		return
	}
	ts := make([]tasks.Task, len(series))
	for i, s := range series {
		ts[i] = kinds.NewRestateTask(s, time.Now(), "worker/"+m.w.cfg.ID, time.Now())
	}
	res, err := m.q.tasks.Publish(ctx, ts)
	if err != nil {
		m.w.log.Warn().Err(err).Msg("could not enqueue the restate tasks the sweep found")
		return
	}
	m.w.log.Info().Int("series", len(series)).Int("accepted", res.Accepted).Msg("restatement sweep: restate tasks enqueued")
}

func (m *member) logBudget(b budget.Budget) {
	if b.Slots == m.lastBudget {
		return
	}
	m.lastBudget = b.Slots
	ev := m.w.log.Info()
	msg := "connection budget"
	if b.Slots == 0 {
		ev = m.w.log.Error()
		msg = "the connection budget is 0: no worker may hold a session until other applications close some " +
			"(or lower FLEET_DB_RESERVE); this worker gives its slot up and checks again when the budget expires"
	}
	ev.Str("arithmetic", b.Arithmetic()).Int("slots", b.Slots).Int("max_connections", b.MaxConnections).Int("superuser_reserved", b.SuperuserReserved).
		Int("reserved", b.RoleReserved).Int("reserve", b.Reserve).Int("other_sessions", b.Others).
		Int("computed", b.Computed).Int("cap", b.Cap).Msg(msg)
}
