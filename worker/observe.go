package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/ratelimit"
	"marketfleet/runner"
	"marketfleet/slots"
	"marketfleet/source"
	"marketfleet/store"
	"marketfleet/tasks"
)

// observer feeds the runner's reports into the worker's metrics and its
// per-minute task counts (the task_counts table behind fleetctl status).
type observer struct {
	m      *metrics.Worker
	counts *taskCounts
}

var _ runner.Observer = observer{}

func (o observer) TaskSettled(s runner.Settlement) {
	kind := kindLabel(s.Kind)
	o.m.Tasks.WithLabelValues(kind, s.Outcome).Inc()
	if s.Class != "" {
		o.m.TaskErrors.WithLabelValues(kind, string(s.Class)).Inc()
	}
	o.m.TaskDuration.WithLabelValues(kind).Observe(s.Took.Seconds())
	if s.Outcome == runner.OutcomeOK && s.Latency > 0 {
		priority := "normal"
		if s.Priority == tasks.PriorityHigh {
			priority = "high"
		}
		o.m.TaskLatency.WithLabelValues(kind, priority).Observe(s.Latency.Seconds())
	}
	o.counts.add(kind, s.Outcome)
	if s.Outcome == runner.OutcomeRetried && !s.RetryAt.IsZero() {
		o.counts.delay(s, kind)
	}
}

func (o observer) BatchDone(b runner.BatchStats) {
	o.m.BatchDuration.Observe(b.Took.Seconds())
	o.m.BatchTasks.Observe(float64(b.Tasks))
	bars := b.Rows[tasks.KindCollect]
	o.m.BarsWritten.Add(float64(bars.Stored))
	o.m.BarsChanged.Add(float64(bars.Changed))
}

// restated counts a committed restatement that changed bars, and logs it
// (a refused one as a warning).
func (m *member) restated(r store.Restatement) {
	if r.Refused != "" {
		m.w.log.Warn().Str("action", r.Action.String()).Str("series", r.Series.String()).Str("refused", r.Refused).
			Msg("corporate action not applied to the series")
		return
	}
	if r.Bars == 0 {
		return
	}
	kind := string(r.Action.Kind)
	m.w.mx.Restatements.WithLabelValues(kind).Inc()
	m.w.mx.BarsRestated.WithLabelValues(kind).Add(float64(r.Bars))
	m.w.log.Info().Str("action", r.Action.String()).Str("series", r.Series.String()).Int64("bars", r.Bars).
		Float64("factor", r.Factor).Time("first", r.First).Time("last", r.Last).Msg("series restated")
}

// repaired counts what a repair task did, and logs the holes it found.
func (m *member) repaired(r kinds.Repair) {
	m.w.mx.BarsRepaired.Add(float64(r.Filled))
	m.w.mx.KnownHoles.Add(float64(r.Holes))
	if r.Holes > 0 {
		m.w.log.Info().Str("series", r.Series.String()).Int64("filled", r.Filled).Int64("known_holes", r.Holes).
			Msg("repair: the source has no data for some expected bars; recorded as known holes")
	}
}

// empty counts and logs an answer without bars: a window with no trading
// (a holiday, a weekend), or a day the source lost; an outage that looks
// like one must not go unseen.
func (m *member) empty(req source.Request) {
	m.w.mx.EmptyAnswers.Inc()
	m.w.log.Info().Str("symbol", req.Symbol).Str("interval", string(req.Interval)).Time("from", req.From).Time("to", req.To).
		Msg("the source answered with no bars")
}

// kindLabel is the kind label of a task, "invalid" for an envelope that did
// not decode or names a kind without a handler (the runner reports "").
func kindLabel(k tasks.Kind) string {
	if k == "" {
		return metrics.InvalidKind
	}
	return string(k)
}

// connectHook counts connection attempts, failures by class, and
// reconnections.
func connectHook(m *metrics.Worker) func(err error, replacing bool) {
	return func(err error, replacing bool) {
		m.DBConnectAttempts.Inc()
		switch {
		case err != nil:
			m.DBConnectFailures.WithLabelValues(store.FailureClass(err)).Inc()
		case replacing:
			m.DBReconnects.Inc()
		}
	}
}

// observedSource times every fetch by status.
func observedSource(src source.Source, m *metrics.Worker) source.Source {
	name := src.Name()
	return source.Observed(src, func(status string, took time.Duration) {
		m.SourceDuration.WithLabelValues(name, status).Observe(took.Seconds())
	})
}

// timedWaiter adds the time spent in the rate limiter to a counter.
type timedWaiter struct {
	w source.Waiter
	m *metrics.Worker
}

func (t timedWaiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := t.w.Wait(ctx)
	metrics.ObserveSince(t.m.RateLimitWait, start)
	if errors.Is(err, ratelimit.ErrDeferred) {
		t.m.SourceDeferred.Inc()
	}
	return err
}

// observedGate is the runner's gate (the fleet's source limiter), which
// also sets the source's rate and breaker gauges from the state the
// limiter last read, before every pull.
type observedGate struct {
	l *ratelimit.Limiter
	m *metrics.Worker
	// peers is how many workers may share the room the limiter reports
	// (the published connection budget; 0 before it is known): each takes
	// its share, so that the fleet does not take W times what its rate can
	// serve within FLEET_SOURCE_MAX_WAIT and defer the rest.
	peers *atomic.Int64
}

func (g observedGate) Admit(ctx context.Context) (time.Duration, int, error) {
	hold, room, err := g.l.Admit(ctx)
	if n := g.peers.Load(); n > 1 && room < ratelimit.MaxAdmit {
		room = max(1, (room+int(n)-1)/int(n))
	}
	cur := g.l.Snapshot()
	g.m.SourceRate.WithLabelValues("configured").Set(cur.Configured)
	g.m.SourceRate.WithLabelValues("current").Set(cur.Rate)
	open := 0.0
	if cur.Paused() {
		open = 1
	}
	g.m.SourceBreakerOpen.Set(open)
	return hold, room, err
}

// slotLoss names why a lease ended, for marketfleet_slot_losses_total;
// "" for a release at shutdown.
func slotLoss(err error) string {
	switch {
	case errors.Is(err, slots.ErrRevoked):
		return "revoked"
	case errors.Is(err, slots.ErrLost):
		return "lost"
	}
	return ""
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
