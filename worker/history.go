package worker

import (
	"context"
	"time"

	"marketfleet/audit"
	"marketfleet/store"
	"marketfleet/tasks"
)

// Provisional bars: how often the holder of slot 0 looks for the ones due
// (their final values are available), and how many series one look asks
// to re-collect.
const (
	settleEvery     = 10 * time.Minute
	settleMaxSeries = 5000
	// settleGiveUp is how long after it became due a provisional bar is
	// still asked for: past it, the source no longer returns it; it stays
	// provisional (fleetctl status, MarketfleetProvisionalBarsStuck).
	settleGiveUp = 7 * 24 * time.Hour
)

// auditCheckEvery is how often the holder of slot 0 checks whether the
// periodic audit is due.
const auditCheckEvery = 10 * time.Minute

// auditTimeout bounds one periodic audit, its repairs and its record (each
// statement is bounded by FLEET_STATEMENT_TIMEOUT too); a failed one is
// tried again auditRetry later.
const (
	auditTimeout = 5 * time.Minute
	auditRetry   = time.Hour
)

// settleProvisional enqueues a collect task for every series with
// provisional bars whose final values a fetch now returns, over the window
// of those bars: its answer replaces them, final. The scheduler's
// incremental tasks re-collect provisional bars too (they start at a
// series' first one); this catches the series nobody schedules. Within the
// stream's duplicate window a window is enqueued once.
func (m *member) settleProvisional(ctx context.Context, db *store.Store) {
	if time.Since(m.lastSettle) < settleEvery {
		return
	}
	m.lastSettle = time.Now()
	now := time.Now()
	f, err := db.FinalityAt(ctx, now)
	if err != nil {
		m.w.log.Debug().Err(err).Msg("could not count the provisional bars")
		return
	}
	m.w.mx.ProvisionalBars.WithLabelValues("pending").Set(float64(f.Provisional))
	m.w.mx.ProvisionalBars.WithLabelValues("due").Set(float64(f.Due))
	if f.Due == 0 {
		return
	}
	due, err := db.DueProvisional(ctx, now, now.Add(-settleGiveUp), settleMaxSeries)
	if err != nil {
		m.w.log.Debug().Err(err).Msg("could not list the provisional bars due")
		return
	}
	by := "worker/" + m.w.cfg.ID
	var ts []tasks.Task
	for _, g := range due {
		windows, err := tasks.SplitWindow(g.Interval, g.First, g.Interval.Next(g.Last), tasks.MaxWindowBars)
		if err != nil {
			m.w.log.Warn().Err(err).Str("series", g.Series.String()).Msg("cannot re-collect provisional bars")
			continue
		}
		for _, w := range windows {
			ts = append(ts, tasks.NewCollect(g.Symbol, g.Interval, w.From, w.To, by, now))
		}
	}
	res, err := m.q.tasks.Publish(ctx, ts)
	if err != nil {
		m.w.log.Warn().Err(err).Msg("could not enqueue the re-collection of provisional bars")
		return
	}
	m.w.log.Info().Int("series", len(due)).Int64("bars", f.Due).Int("accepted", res.Accepted).
		Msg("provisional bars due: re-collection enqueued")
}

// auditIfDue audits the whole history when the last audit of the whole
// history anyone recorded is older than HistoryConfig.AuditEvery, enqueues
// repairs for the gaps it finds, and records the run. It runs on the batch
// loop's session, in its housekeeping: the batches in flight wait for it to
// write (500 symbols with 10 years of daily bars take about 2 s).
func (m *member) auditIfDue(ctx context.Context, db *store.Store) {
	every := m.w.cfg.History.AuditEvery
	if every < 0 || time.Since(m.lastAuditCheck) < auditCheckEvery {
		return
	}
	m.lastAuditCheck = time.Now()
	if time.Now().Before(m.auditRetryAt) {
		return
	}
	last, ok, err := db.LastAudit(ctx, true)
	if err != nil {
		m.w.log.Debug().Err(err).Msg("could not read the last audit")
		return
	}
	if ok && time.Since(last.At) < every {
		return
	}
	// The audit may take longer than a write: it gets its own bound.
	actx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	r, err := audit.Run(actx, db, m.w.hist, store.AuditQuery{})
	if err != nil {
		m.auditRetryAt = time.Now().Add(auditRetry)
		m.w.log.Warn().Err(err).Stringer("retry_in", auditRetry).Msg("periodic audit failed")
		return
	}
	by := "worker/" + m.w.cfg.ID
	repairs, err := audit.RepairTasks(r, by, time.Now())
	if err != nil {
		m.w.log.Warn().Err(err).Msg("periodic audit: cannot plan the repairs")
		repairs = nil
	}
	if len(repairs) > 0 {
		if _, err := m.q.tasks.Publish(actx, repairs); err != nil {
			m.w.log.Warn().Err(err).Msg("periodic audit: could not enqueue the repairs")
			repairs = nil
		}
	}
	if err := audit.Record(actx, db, &r, by, len(repairs), m.w.cfg.History.AuditGrace); err != nil {
		m.w.log.Warn().Err(err).Msg("periodic audit: could not record it")
	}
	m.w.mx.GapsFound.Add(float64(r.Totals.Gaps))
	m.w.mx.AuditGaps.WithLabelValues("open").Set(float64(r.Totals.Gaps))
	m.w.mx.AuditGaps.WithLabelValues("persisting").Set(float64(r.Totals.Persisting))
	ev := m.w.log.Info()
	if r.Totals.Persisting > 0 {
		ev = m.w.log.Error()
	}
	ev.Int("series", r.Totals.Series).Int64("expected", r.Totals.Expected).Int64("missing", r.Totals.Missing).
		Int("gaps", r.Totals.Gaps).Int("persisting", r.Totals.Persisting).Int64("known_holes", r.Totals.Holes).
		Int("repair_tasks", len(repairs)).Stringer("took", r.Took).Msg("periodic audit")
}

// clearHistoryView zeroes what only the holder of slot 0 reports.
func (m *member) clearHistoryView() {
	for _, st := range []string{"open", "persisting"} {
		m.w.mx.AuditGaps.WithLabelValues(st).Set(0)
	}
	for _, st := range []string{"pending", "due"} {
		m.w.mx.ProvisionalBars.WithLabelValues(st).Set(0)
	}
}
