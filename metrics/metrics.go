package metrics

import (
	"net/http"
	"time"

	"marketfleet/market"
	"marketfleet/outcome"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a task (label outcome of marketfleet_tasks_total).
const (
	OutcomeOK           = "ok"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
)

// Names is the contract: every metric family a worker exports, without the
// _bucket/_sum/_count suffixes of histograms. FleetView's families are
// exported only by the holder of slot 0.
var Names = []string{
	"marketfleet_tasks_total",
	"marketfleet_task_errors_total",
	"marketfleet_task_duration_seconds",
	"marketfleet_task_latency_seconds",
	"marketfleet_batch_duration_seconds",
	"marketfleet_batch_tasks",
	"marketfleet_bars_written_total",
	"marketfleet_bars_changed_total",
	"marketfleet_restatements_total",
	"marketfleet_bars_restated_total",
	"marketfleet_bars_repaired_total",
	"marketfleet_known_holes_total",
	"marketfleet_gaps_found_total",
	"marketfleet_empty_answers_total",
	"marketfleet_source_request_duration_seconds",
	"marketfleet_source_ratelimit_wait_seconds_total",
	"marketfleet_source_rate",
	"marketfleet_source_breaker_open",
	"marketfleet_source_deferred_total",
	"marketfleet_db_connect_attempts_total",
	"marketfleet_db_connect_failures_total",
	"marketfleet_db_reconnects_total",
	"marketfleet_db_session_up",
	"marketfleet_slot_held",
	"marketfleet_slot_waiting",
	"marketfleet_slot_wait_seconds_total",
	"marketfleet_slot_losses_total",
	"marketfleet_nats_reconnects_total",
	"marketfleet_nats_connected",
	"marketfleet_dead_letters_total",
	"marketfleet_dead_letter_failures_total",
	"marketfleet_dead_letter_stream_used_ratio",
	"marketfleet_requests_total",
	"marketfleet_pg_max_connections",
	"marketfleet_pg_reserved_connections",
	"marketfleet_pg_sessions",
	"marketfleet_pg_fleet_sessions",
	"marketfleet_budget_slots",
	"marketfleet_backlog_oldest_age_seconds",
	"marketfleet_audit_gaps",
	"marketfleet_provisional_bars",
}

// Worker is every metric of one worker process. Create it with NewWorker;
// its fields are safe for concurrent use.
type Worker struct {
	reg *prometheus.Registry

	Tasks         *prometheus.CounterVec   // kind, outcome
	TaskErrors    *prometheus.CounterVec   // kind, class
	TaskDuration  *prometheus.HistogramVec // kind
	TaskLatency   *prometheus.HistogramVec // kind, priority
	BatchDuration prometheus.Histogram
	BatchTasks    prometheus.Histogram
	BarsWritten   prometheus.Counter
	BarsChanged   prometheus.Counter
	Restatements  *prometheus.CounterVec // action kind
	BarsRestated  *prometheus.CounterVec // action kind
	BarsRepaired  prometheus.Counter
	KnownHoles    prometheus.Counter
	EmptyAnswers  prometheus.Counter

	// Set by the holder of slot 0 (zero elsewhere): its audits and its
	// look at the provisional bars.
	GapsFound       prometheus.Counter
	AuditGaps       *prometheus.GaugeVec // state: open, persisting
	ProvisionalBars *prometheus.GaugeVec // state: pending, due

	SourceDuration *prometheus.HistogramVec // source, status
	RateLimitWait  prometheus.Counter
	// SourceRate is the fleet's source rate, configured and current;
	// SourceBreakerOpen 1 while the source's breaker is open;
	// SourceDeferred the requests sent back to the queue to wait.
	SourceRate        *prometheus.GaugeVec // rate: configured, current
	SourceBreakerOpen prometheus.Gauge
	SourceDeferred    prometheus.Counter

	DBConnectAttempts prometheus.Counter
	DBConnectFailures *prometheus.CounterVec // sqlstate_class
	DBReconnects      prometheus.Counter
	DBSessionUp       prometheus.Gauge

	SlotHeld    prometheus.Gauge
	SlotWaiting prometheus.Gauge
	SlotWait    prometheus.Counter
	SlotLosses  *prometheus.CounterVec // reason

	NATSReconnects prometheus.Counter
	NATSConnected  prometheus.Gauge

	DeadLetters        *prometheus.CounterVec // class
	DeadLetterFailures *prometheus.CounterVec // stream: tasks, requests
	Requests           *prometheus.CounterVec // outcome

	// Fleet is the slot-0 holder's view of PostgreSQL and the backlog.
	Fleet *FleetView
}

// NewWorker returns a Worker with every metric registered on a new
// registry, with the Go runtime and process collectors (memory, CPU, open
// files) alongside. kinds are the task kinds the worker runs (label kind;
// InvalidKind is added): their series start at zero.
func NewWorker(kinds ...string) *Worker {
	w := &Worker{reg: prometheus.NewRegistry(), Fleet: newFleetView()}
	f := factory{w.reg}
	w.Tasks = f.counterVec("marketfleet_tasks_total", "Tasks settled, by kind and outcome (ok, retried, dead_lettered).", "kind", "outcome")
	w.TaskErrors = f.counterVec("marketfleet_task_errors_total", "Task failures by kind and error class (transient, busy, invalid, not_found, rejected, data, bad_data, panic, exhausted).", "kind", "class")
	w.TaskDuration = f.histogramVec("marketfleet_task_duration_seconds", "From the start of its batch to a task's settlement.", durationBuckets, "kind")
	w.TaskLatency = f.histogramVec("marketfleet_task_latency_seconds", "From publish (stream timestamp) to the acknowledgement of an applied task.", latencyBuckets, "kind", "priority")
	w.BatchDuration = f.histogram("marketfleet_batch_duration_seconds", "One batch, from delivery to the last settlement.", durationBuckets)
	w.BatchTasks = f.histogram("marketfleet_batch_tasks", "Tasks per batch.", prometheus.ExponentialBuckets(1, 2, 11))
	w.BarsWritten = f.counter("marketfleet_bars_written_total", "Bars in committed writes.")
	w.BarsChanged = f.counter("marketfleet_bars_changed_total", "Rows inserted or updated by committed writes (unchanged bars are not rewritten).")
	w.Restatements = f.counterVec("marketfleet_restatements_total", "Corporate actions applied to a stored series that changed bars, by action kind (split, dividend, capital_gain).", "kind")
	w.BarsRestated = f.counterVec("marketfleet_bars_restated_total", "Stored bars changed by restatements, by action kind.", "kind")
	w.BarsRepaired = f.counter("marketfleet_bars_repaired_total", "Bars stored by repair tasks (audit --repair, the periodic audit) that were missing or differed.")
	w.KnownHoles = f.counter("marketfleet_known_holes_total", "Expected bars a repair asked the source for and it had no data for, recorded as known holes.")
	w.EmptyAnswers = f.counter("marketfleet_empty_answers_total", "Collect requests the source answered with no bars at all (a window without trading, a lost day, or a source outage that looks like one).")
	w.GapsFound = f.counter("marketfleet_gaps_found_total", "Gaps (runs of missing expected bars) found by the periodic audits this worker ran.")
	w.AuditGaps = f.gaugeVec("marketfleet_audit_gaps", "Gaps found by the last periodic audit this worker ran while holding slot 0: open, and persisting (still found a grace period after their repair was asked for).", "state")
	w.ProvisionalBars = f.gaugeVec("marketfleet_provisional_bars", "Provisional bars as the holder of slot 0 last counted them: pending, and due (final values available, re-collection asked for).", "state")
	w.SourceDuration = f.histogramVec("marketfleet_source_request_duration_seconds", "Source fetches by source and status (ok, not_found, rejected, retry_after, error, canceled).", durationBuckets, "source", "status")
	w.RateLimitWait = f.counter("marketfleet_source_ratelimit_wait_seconds_total", "Time spent waiting for the fleet-wide source rate limit.")
	w.SourceRate = f.gaugeVec("marketfleet_source_rate", "The fleet-wide source rate in requests/s as this worker last read it: configured, and current (lowered while the source pushes back; fleetctl status says why).", "rate")
	for _, r := range []string{"configured", "current"} {
		w.SourceRate.WithLabelValues(r) // 0 while unlimited, or until the first pull
	}
	w.SourceBreakerOpen = f.gauge("marketfleet_source_breaker_open", "1 while the fleet's circuit breaker on the source is open: no requests go, no source tasks are taken.")
	w.SourceDeferred = f.counter("marketfleet_source_deferred_total", "Source requests not made and sent back to the queue to wait (breaker open, or the fleet's requests booked beyond FLEET_SOURCE_MAX_WAIT).")
	w.DBConnectAttempts = f.counter("marketfleet_db_connect_attempts_total", "PostgreSQL connection attempts.")
	w.DBConnectFailures = f.counterVec("marketfleet_db_connect_failures_total", "Failed PostgreSQL connection attempts by SQLSTATE class (53, 57, 08, 28, ...), network or gate.", "sqlstate_class")
	w.DBReconnects = f.counter("marketfleet_db_reconnects_total", "Sessions opened to replace a lost one.")
	w.DBSessionUp = f.gauge("marketfleet_db_session_up", "1 while the worker holds its PostgreSQL session.")
	w.SlotHeld = f.gauge("marketfleet_slot_held", "1 while the worker holds a connection slot.")
	w.SlotWaiting = f.gauge("marketfleet_slot_waiting", "1 while the worker waits for a connection slot.")
	w.SlotWait = f.counter("marketfleet_slot_wait_seconds_total", "Time spent waiting for a connection slot.")
	w.SlotLosses = f.counterVec("marketfleet_slot_losses_total", "Connection slots given up, by reason (lost, revoked).", "reason")
	w.NATSReconnects = f.counter("marketfleet_nats_reconnects_total", "Reconnections to NATS.")
	w.NATSConnected = f.gauge("marketfleet_nats_connected", "1 while connected to NATS.")
	w.DeadLetters = f.counterVec("marketfleet_dead_letters_total", "Dead letters written, by class.", "class")
	w.DeadLetterFailures = f.counterVec("marketfleet_dead_letter_failures_total", "Dead letters (stream tasks: the task is kept and retried) and refused-request records (stream requests) that could not be written, e.g. because the stream is full.", "stream")
	w.Requests = f.counterVec("marketfleet_requests_total", "On-demand requests by outcome (accepted, invalid: refused and recorded, unrecorded: refused over FLEET_REFUSED_RATE, failed).", "outcome")
	w.reg.MustRegister(w.Fleet, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w.initLabels(append(kinds, InvalidKind))
	return w
}

// Label values known in advance. Their series are created at zero when
// the worker starts, so that rate() and increase() see the first event
// instead of a series appearing out of nothing.
var (
	Outcomes = []string{OutcomeOK, OutcomeRetried, OutcomeDeadLettered}
	// ErrorClasses are every outcome class a worker settles a failed task
	// with: all but max_deliveries, which the server decides.
	ErrorClasses = classes(func(c outcome.Class) bool { return c != outcome.MaxDeliveries })
	// LetterClasses are every dead-letter class.
	LetterClasses = classes(outcome.Class.DeadLetter)
	SlotReasons   = []string{"lost", "revoked"}
	RequestResult = []string{"accepted", "invalid", "unrecorded", "failed"}
	// DeadLetterStreams are the stream label values of the dead-letter
	// metrics.
	DeadLetterStreams = []string{"tasks", "requests"}
	ConnectClass      = []string{"53", "57", "08", "28", "network"}
)

// classes are the outcome classes keep selects, as label values.
func classes(keep func(outcome.Class) bool) []string {
	var out []string
	for _, c := range outcome.Classes {
		if keep(c) {
			out = append(out, string(c))
		}
	}
	return out
}

// InvalidKind is the kind label of a task whose envelope did not decode or
// names a kind the worker has no handler for: a label value per unknown
// kind would let anyone who can publish grow the series without bound.
const InvalidKind = "invalid"

func (w *Worker) initLabels(kinds []string) {
	for _, k := range kinds {
		for _, o := range Outcomes {
			w.Tasks.WithLabelValues(k, o)
		}
		for _, c := range ErrorClasses {
			w.TaskErrors.WithLabelValues(k, c)
		}
	}
	for _, c := range LetterClasses {
		w.DeadLetters.WithLabelValues(c)
	}
	for _, k := range market.ActionKinds {
		w.Restatements.WithLabelValues(string(k))
		w.BarsRestated.WithLabelValues(string(k))
	}
	for _, st := range []string{"open", "persisting"} {
		w.AuditGaps.WithLabelValues(st)
	}
	for _, st := range []string{"pending", "due"} {
		w.ProvisionalBars.WithLabelValues(st)
	}
	for _, r := range SlotReasons {
		w.SlotLosses.WithLabelValues(r)
	}
	for _, st := range DeadLetterStreams {
		w.DeadLetterFailures.WithLabelValues(st)
	}
	for _, r := range RequestResult {
		w.Requests.WithLabelValues(r)
	}
	for _, c := range ConnectClass {
		w.DBConnectFailures.WithLabelValues(c)
	}
}

// Registry is the worker's registry, for tests and extra collectors.
func (w *Worker) Registry() *prometheus.Registry { return w.reg }

// Handler serves the registry in the Prometheus exposition format.
func (w *Worker) Handler() http.Handler {
	return promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{Registry: w.reg})
}

// ObserveSince adds the time since start to a seconds counter.
func ObserveSince(c prometheus.Counter, start time.Time) { c.Add(time.Since(start).Seconds()) }

var (
	// durationBuckets cover 1 ms to about 1 min.
	durationBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 13)
	// latencyBuckets cover 10 ms to about 3 h: queueing included.
	latencyBuckets = prometheus.ExponentialBuckets(0.01, 3, 14)
)

// factory registers metrics on one registry.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
