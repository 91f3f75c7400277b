package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"marketfleet/slots"
	"marketfleet/store"
)

// statusReport is everything `fleetctl status` shows. Its JSON form is the
// output of --json; the field names are stable. A section is absent (null)
// when the service it comes from could not be read: the matching *_error
// field says why.
type statusReport struct {
	// At is when the report was gathered.
	At time.Time `json:"at"`
	// Verdict sums the report up; set by finish.
	Verdict verdict `json:"verdict"`
	// NATSError and PostgresError say why a service could not be read.
	NATSError     string `json:"nats_error,omitempty"`
	PostgresError string `json:"postgres_error,omitempty"`
	// SectionErrors say why a section of a service that could be reached
	// is absent, by its JSON name: each section has its own time limit
	// (--timeout), and one that runs out says "timed out after ..." alone.
	SectionErrors map[string]string `json:"section_errors,omitempty"`
	// From NATS.
	Backlog     *backlogStatus    `json:"backlog"`
	DeadLetters *deadLetterStatus `json:"dead_letters"`
	Slots       *slots.State      `json:"slots"`
	// Source is the fleet-wide limits on the data source (one per source
	// the workers used), empty when none applies.
	Source *[]sourceStatus `json:"source"`
	// From PostgreSQL.
	Postgres  *postgresStatus  `json:"postgres"`
	Failures  *failureStatus   `json:"failures"`
	Freshness *freshnessStatus `json:"freshness"`
	// Restatements are the last day's, for information (no verdict).
	Restatements *restatementStatus `json:"restatements"`
	// History is how final and complete the stored history is.
	History *historyStatus `json:"history"`
}

// sourceStatus is one fleet-wide source limit (ratelimit.Inspect): the
// configured and the current rate, why they differ, and the breaker.
type sourceStatus struct {
	Key        string  `json:"key"`
	Configured float64 `json:"configured_rate"`
	Current    float64 `json:"current_rate"`
	// Reason is what the source last answered when it failed; CutAt when
	// the rate was last halved.
	Reason string     `json:"reason,omitempty"`
	CutAt  *time.Time `json:"cut_at,omitempty"`
	// FailingSince: the source has failed with no success since then.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// PausedUntil: the breaker is open, no requests go until then;
	// Openings in this run of failures.
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	Openings    int        `json:"openings,omitempty"`
}

// Verdict levels, in rising order of concern.
const (
	levelOK   = "OK"
	levelWarn = "WARN"
	levelCrit = "CRIT"
)

// verdict is the one-line answer to "is everything fine?".
type verdict struct {
	// Level is OK, WARN or CRIT: the highest level of the findings.
	Level string `json:"level"`
	// Findings are the reasons for a level above OK, worst first.
	Findings []finding `json:"findings"`
}

// finding is one reason for concern.
type finding struct {
	Level string `json:"level"` // WARN or CRIT
	Text  string `json:"text"`
}

// backlogStatus is the task stream and its two consumers.
type backlogStatus struct {
	Stream string `json:"stream"`
	// Missing: the stream does not exist (no producer or worker has run).
	Missing   bool             `json:"missing,omitempty"`
	Messages  uint64           `json:"messages"`
	Bytes     uint64           `json:"bytes"`
	Consumers []consumerStatus `json:"consumers"`
}

// consumerStatus is one consumer's backlog.
type consumerStatus struct {
	Name   string `json:"name"`
	Filter string `json:"filter"`
	// Missing: the consumer does not exist (no worker has started).
	Missing bool `json:"missing,omitempty"`
	// Pending tasks wait for their first delivery (NumPending).
	Pending uint64 `json:"pending"`
	// AckPending tasks are delivered and not yet acknowledged.
	AckPending int `json:"ack_pending"`
	// Redelivered tasks are delivered more than once and not yet acknowledged.
	Redelivered int `json:"redelivered"`
	// OldestWaiting is when the oldest task waiting for delivery was
	// published; absent when none waits.
	OldestWaiting *time.Time `json:"oldest_waiting_at,omitempty"`
	// OldestWaitingAge is now - OldestWaiting in seconds; set by finish.
	OldestWaitingAge *int64 `json:"oldest_waiting_age_seconds,omitempty"`
}

// deadLetterStatus sums up the dead-letter stream.
type deadLetterStatus struct {
	Total   int            `json:"total"`
	ByClass map[string]int `json:"by_class"`
	// TopReasons are the (at most) 3 most frequent reasons among the
	// newest ReasonsAmong dead letters, truncated to maxReasonLen
	// characters.
	TopReasons   []reasonCount `json:"top_reasons"`
	ReasonsAmong int           `json:"reasons_among"`
	// Newest is when the latest dead letter died.
	Newest *time.Time `json:"newest_at,omitempty"`
	// UsedPercent is the stream's bytes over its cap: at 100, new dead
	// letters are refused (their tasks retried).
	UsedPercent float64 `json:"used_percent"`
	// RefusedRequests are the refused on-demand requests recorded in their
	// own stream; absent when it could not be read.
	RefusedRequests *int `json:"refused_requests,omitempty"`
}

type reasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// postgresStatus is the server's sessions against its limits, fleetctl's
// own session excluded.
type postgresStatus struct {
	MaxConnections    int `json:"max_connections"`
	SuperuserReserved int `json:"superuser_reserved_connections"`
	RoleReserved      int `json:"reserved_connections"`
	// Sessions is the number of client sessions on the server.
	Sessions int `json:"sessions"`
	// UsagePercent is Sessions / MaxConnections · 100.
	UsagePercent float64 `json:"usage_percent"`
	// Apps lists sessions by application_name, most first; the fleet's
	// sessions (prefix marketfleet-worker/) are one entry, "marketfleet-worker".
	Apps []appSessions `json:"apps"`
}

type appSessions struct {
	Name     string `json:"application_name"`
	Sessions int    `json:"sessions"`
	// Workers is the number of distinct worker sessions (fleet entry only).
	Workers int `json:"workers,omitempty"`
}

// failureStatus is the fleet's task outcomes over the last hour.
type failureStatus struct {
	Since        time.Time `json:"since"`
	OK           int64     `json:"ok"`
	Retried      int64     `json:"retried"`
	DeadLettered int64     `json:"dead_lettered"`
	// FailurePercent is (Retried + DeadLettered) / all · 100; 0 with no tasks.
	FailurePercent float64     `json:"failure_percent"`
	ByKind         []kindCount `json:"by_kind"`
	// Unavailable says why there are no counts (an old schema).
	Unavailable string `json:"unavailable,omitempty"`
	// Delayed are the tasks returned to the queue with a delay that has
	// not ended yet; absent before migration 7.
	Delayed *delayedStatus `json:"delayed,omitempty"`
}

// delayedStatus counts the tasks waiting on a retry delay (each at most
// FLEET_RETRY_MAX), and names the one that waits longest.
type delayedStatus struct {
	Waiting int64 `json:"waiting"`
	// The longest wait: absent when none waits.
	Longest *delayedTask `json:"longest,omitempty"`
}

type delayedTask struct {
	Symbol    string    `json:"symbol"`
	Kind      string    `json:"kind"`
	Class     string    `json:"class"`
	Reason    string    `json:"reason"`
	StreamSeq uint64    `json:"stream_seq"`
	RetryAt   time.Time `json:"retry_at"`
}

type kindCount struct {
	Kind         string `json:"kind"`
	OK           int64  `json:"ok"`
	Retried      int64  `json:"retried"`
	DeadLettered int64  `json:"dead_lettered"`
}

// restatementStatus counts the restatements of the last 24 hours that
// changed stored bars, by action kind.
type restatementStatus struct {
	Since  time.Time          `json:"since"`
	ByKind []restatementCount `json:"by_kind"`
	// Pending is the number of series an action first seen in the last 7
	// days has not been applied to yet (their restate tasks are queued, or
	// the workers' sweep enqueues them).
	Pending int `json:"pending_series"`
	// Unavailable says why there are no counts (an old schema).
	Unavailable string `json:"unavailable,omitempty"`
}

type restatementCount struct {
	Kind    string `json:"kind"`
	Series  int64  `json:"series"`
	Refused int64  `json:"refused"`
	Symbols int64  `json:"symbols"`
	Bars    int64  `json:"bars"`
}

// historyStatus is the provisional bars, the known holes and the last
// audit.
type historyStatus struct {
	// Provisional bars were fetched before they were final; Due of them
	// have final values available (their re-collection is queued, or the
	// workers' look every 10 minutes enqueues it); OldestDue is when the
	// longest due became due.
	Provisional int64      `json:"provisional"`
	Due         int64      `json:"provisional_due"`
	OldestDue   *time.Time `json:"oldest_due_at,omitempty"`
	// KnownHoles are expected bars the source has no data for.
	KnownHoles int64 `json:"known_holes"`
	// LastAudit is the latest audit run; absent when none ran.
	LastAudit *store.AuditRecord `json:"last_audit,omitempty"`
	// Unavailable says why there are no counts (an old schema).
	Unavailable string `json:"unavailable,omitempty"`
}

// freshnessStatus is the stalest series, oldest newest bar first.
type freshnessStatus struct {
	Series []seriesStatus `json:"series"`
	// Unavailable says why there are no series (an unmigrated schema).
	Unavailable string `json:"unavailable,omitempty"`
}

type seriesStatus struct {
	Symbol    string    `json:"symbol"`
	Interval  string    `json:"interval"`
	LastBar   time.Time `json:"last_bar"`
	LastWrite time.Time `json:"last_write"`
	// AgeSeconds is now - LastBar; set by finish.
	AgeSeconds int64 `json:"age_seconds"`
}

// Verdict thresholds. A threshold is crossed when the value reaches it.
const (
	// sessionWarnPercent is the "80% line" of max_connections: above it,
	// WARN. CRIT when sessions reach the slots ordinary roles may use
	// (max_connections minus the reserved ones): new sessions fail.
	sessionWarnPercent = 80.0
	// failureWarnPercent and failureCritPercent bound the share of tasks
	// retried or dead-lettered in the last hour.
	failureWarnPercent = 5.0
	failureCritPercent = 20.0
	// waitWarnAge and waitCritAge bound the age of the oldest task waiting
	// for delivery.
	waitWarnAge = 15 * time.Minute
	waitCritAge = time.Hour
	// dueWarnAge bounds how long a provisional bar may stay due: the
	// re-collection is not happening (no worker, a dead-lettered task).
	dueWarnAge = 6 * time.Hour
)

// finish fills the derived fields of r (ages at now, the verdict) and
// returns it. It is a pure function.
func finish(r statusReport, now time.Time) statusReport {
	if r.Backlog != nil {
		cs := make([]consumerStatus, len(r.Backlog.Consumers))
		for i, c := range r.Backlog.Consumers {
			if c.OldestWaiting != nil {
				age := int64(now.Sub(*c.OldestWaiting) / time.Second)
				c.OldestWaitingAge = &age
			}
			cs[i] = c
		}
		b := *r.Backlog
		b.Consumers = cs
		r.Backlog = &b
	}
	if r.Freshness != nil {
		f := *r.Freshness
		f.Series = make([]seriesStatus, len(r.Freshness.Series))
		for i, s := range r.Freshness.Series {
			s.AgeSeconds = int64(now.Sub(s.LastBar) / time.Second)
			f.Series[i] = s
		}
		r.Freshness = &f
	}
	r.Verdict = assess(r, now)
	return r
}

// assess applies the thresholds to r.
func assess(r statusReport, now time.Time) verdict {
	var fs []finding
	add := func(level, format string, args ...any) {
		fs = append(fs, finding{Level: level, Text: fmt.Sprintf(format, args...)})
	}
	// The errors name their service ("NATS unreachable (NATS_URL): ...").
	if r.NATSError != "" {
		add(levelCrit, "%s", r.NATSError)
	}
	if r.PostgresError != "" {
		add(levelCrit, "%s", r.PostgresError)
	}
	for _, name := range slices.Sorted(maps.Keys(r.SectionErrors)) {
		add(levelWarn, "%s: %s", strings.ReplaceAll(name, "_", " "), r.SectionErrors[name])
	}
	if p := r.Postgres; p != nil {
		switch sessionLevel(p) {
		case levelCrit:
			add(levelCrit, "sessions at %.0f%% of max_connections: none left for ordinary roles", p.UsagePercent)
		case levelWarn:
			add(levelWarn, "sessions at %.0f%% of max_connections", p.UsagePercent)
		}
	}
	fs = append(fs, backlogFindings(r.Backlog, now)...)
	if f := r.Failures; f != nil {
		if level := failureLevel(f); level != levelOK {
			add(level, "failure rate %.1f%% in the last hour", f.FailurePercent)
		}
	}
	if d := r.DeadLetters; d != nil && d.Total > 0 {
		add(levelWarn, "%d dead letter%s", d.Total, plural(d.Total))
	}
	if s := r.Slots; s != nil && s.Limit != nil && s.Limit.Slots == 0 {
		add(levelCrit, "the connection budget is 0 (%s): no worker may hold a session", s.Limit.Arithmetic)
	}
	if r.Source != nil {
		for _, s := range *r.Source {
			switch {
			case s.PausedUntil != nil:
				add(levelWarn, "the fleet has stopped asking the source (%s) until %s: it kept failing (%s)",
					s.Key, s.PausedUntil.UTC().Format("15:04:05"), s.Reason)
			case s.Current < s.Configured/2:
				add(levelWarn, "the source (%s) pushed back (%s): the fleet runs at %.3g of %.3g requests/s",
					s.Key, s.Reason, s.Current, s.Configured)
			}
		}
	}
	if s := r.Slots; s != nil && len(s.Waiting) > 0 {
		n := len(s.Waiting)
		add(levelWarn, "%d replica%s waiting for a slot", n, plural(n))
	}
	if h := r.History; h != nil {
		if a := h.LastAudit; a != nil && a.Persisting > 0 {
			add(levelWarn, "%d gap%s still missing after a repair (fleetctl audit)", a.Persisting, plural(a.Persisting))
		}
		if h.OldestDue != nil && now.Sub(*h.OldestDue) >= dueWarnAge {
			add(levelWarn, "provisional bars due for %s and not re-collected", age(now.Sub(*h.OldestDue)))
		}
	}
	return summarize(fs)
}

func backlogFindings(b *backlogStatus, now time.Time) []finding {
	if b == nil {
		return nil
	}
	// A missing stream or consumer is an outage: nothing is consumed until
	// a worker recreates it (at its next pull) or one is started.
	if b.Missing {
		return []finding{{levelCrit, "task stream " + b.Stream + " does not exist (a worker recreates it)"}}
	}
	var fs []finding
	for _, c := range b.Consumers {
		if c.Missing {
			fs = append(fs, finding{levelCrit, "consumer " + c.Name + " does not exist (a worker recreates it)"})
			continue
		}
		if c.OldestWaiting == nil {
			continue
		}
		wait := now.Sub(*c.OldestWaiting)
		text := fmt.Sprintf("oldest waiting task %s old (%s)", age(wait), c.Name)
		switch {
		case wait >= waitCritAge:
			fs = append(fs, finding{levelCrit, text})
		case wait >= waitWarnAge:
			fs = append(fs, finding{levelWarn, text})
		}
	}
	return fs
}

// sessionLevel is CRIT when the sessions reach what ordinary roles may use
// (max_connections minus the reserved slots: new sessions fail), WARN above
// the 80% line, else OK.
func sessionLevel(p *postgresStatus) string {
	switch {
	case p.Sessions >= p.MaxConnections-p.SuperuserReserved-p.RoleReserved:
		return levelCrit
	case p.UsagePercent > sessionWarnPercent:
		return levelWarn
	}
	return levelOK
}

// failureLevel applies the failure-rate thresholds; OK without tasks.
func failureLevel(f *failureStatus) string {
	switch {
	case f.OK+f.Retried+f.DeadLettered == 0:
		return levelOK
	case f.FailurePercent >= failureCritPercent:
		return levelCrit
	case f.FailurePercent >= failureWarnPercent:
		return levelWarn
	}
	return levelOK
}

// summarize orders findings worst first (stably) and takes the highest level.
func summarize(fs []finding) verdict {
	v := verdict{Level: levelOK, Findings: []finding{}}
	for _, level := range []string{levelCrit, levelWarn} {
		for _, f := range fs {
			if f.Level == level {
				v.Findings = append(v.Findings, f)
			}
		}
	}
	if len(v.Findings) > 0 {
		v.Level = v.Findings[0].Level
	}
	return v
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
