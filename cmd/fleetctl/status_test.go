package main

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/dlq"
	"marketfleet/outcome"
	"marketfleet/slots"
	"marketfleet/store"
)

var now = time.Date(2025, 3, 4, 10, 20, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(-d); return &t }

// sampleReport is a fleet with something to say in every section.
func ptr[T any](v T) *T { return &v }

func sampleReport() statusReport {
	return statusReport{
		At: now,
		Backlog: &backlogStatus{Stream: "MARKETFLEET_TASKS", Messages: 1523, Bytes: 3 << 20, Consumers: []consumerStatus{
			{Name: "marketfleet-workers", Filter: "marketfleet.tasks.>", Pending: 1500, AckPending: 20, Redelivered: 3, OldestWaiting: at(4 * time.Minute)},
			{Name: "marketfleet-workers-priority", Filter: "marketfleet.priority.>"},
		}},
		DeadLetters: &deadLetterStatus{Total: 12, ByClass: map[string]int{"exhausted": 7, "not_found": 4, "invalid": 1},
			TopReasons:   []reasonCount{{"fetch AAPL 1d: source: 503 Service Unavailable", 5}, {"symbol ZZZZ not found", 4}, {"envelope: unknown kind \"x\"", 1}},
			ReasonsAmong: 12, Newest: at(3 * time.Minute), UsedPercent: 3.2, RefusedRequests: ptr(5)},
		Slots: &slots.State{
			Held:    []slots.Holder{{Slot: 0, Holder: "worker-a", Since: now.Add(-2 * time.Hour)}, {Slot: 1, Holder: "worker-b", Since: now.Add(-90 * time.Minute)}},
			Waiting: []slots.Holder{{Slot: -1, Holder: "worker-c", Since: now.Add(-time.Minute)}},
			Limit:   &slots.Limit{Slots: 2, By: "worker-a", At: now.Add(-3 * time.Second)},
		},
		Source: &[]sourceStatus{{Key: "source.yahoo", Configured: 10, Current: 2.5, Reason: "HTTP 429",
			CutAt: at(20 * time.Second), FailingSince: at(40 * time.Second)}},
		Postgres: &postgresStatus{MaxConnections: 100, SuperuserReserved: 3, Sessions: 85, UsagePercent: 85, Apps: []appSessions{
			{Name: "marketfleet-worker", Sessions: 70, Workers: 70}, {Name: "grafana", Sessions: 12}, {Name: "psql", Sessions: 3}}},
		Failures: &failureStatus{Since: now.Add(-time.Hour), OK: 1200, Retried: 80, DeadLettered: 12, FailurePercent: 92.0 * 100 / 1292,
			ByKind: []kindCount{{"collect", 1100, 75, 12}, {"features", 100, 5, 0}}},
		Restatements: &restatementStatus{Since: now.Add(-24 * time.Hour), ByKind: []restatementCount{
			{Kind: "dividend", Series: 12, Refused: 1, Symbols: 4, Bars: 30120}, {Kind: "split", Series: 3, Symbols: 1, Bars: 98280}}},
		History: &historyStatus{Provisional: 12, Due: 3, OldestDue: at(7 * time.Hour), KnownHoles: 2,
			LastAudit: &store.AuditRecord{At: now.Add(-2 * time.Hour), By: "worker/worker-a", Series: 500, Expected: 1260000,
				Missing: 9, Gaps: 4, Persisting: 1, RepairTasks: 4}},
		Freshness: &freshnessStatus{Series: []seriesStatus{
			{Symbol: "AAPL", Interval: "1wk", LastBar: time.Date(2025, 2, 24, 0, 0, 0, 0, time.UTC), LastWrite: now.Add(-50 * time.Hour)},
			{Symbol: "MSFT", Interval: "1d", LastBar: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), LastWrite: now.Add(-10 * time.Minute)},
		}},
	}
}

const samplePlain = `fleetctl status  2025-03-04 10:20:00 UTC
WARN  sessions at 85% of max_connections; failure rate 7.1% in the last hour; 12 dead letters; the source (source.yahoo) pushed back (HTTP 429): the fleet runs at 2.5 of 10 requests/s; 1 replica waiting for a slot; 1 gap still missing after a repair (fleetctl audit); provisional bars due for 7h and not re-collected

Backlog (stream MARKETFLEET_TASKS: 1523 messages, 3.0 MiB)
  CONSUMER                      PENDING  ACK PENDING  REDELIVERED  OLDEST WAITING
  marketfleet-workers           1500     20           3            4m (published 2025-03-04 10:16)
  marketfleet-workers-priority  0        0            0            none

Dead letters: 12 (newest 3m ago; the stream 3% full)
  by class: exhausted 7, not_found 4, invalid 1
      5× fetch AAPL 1d: source: 503 Service Unavailable
      4× symbol ZZZZ not found
      1× envelope: unknown kind "x"
  refused on-demand requests recorded: 5 (fleetctl dlq list --refused)

Connection slots: 2 held, 1 waiting; budget 2 (published by worker-a 3s ago)
    slot 0   worker-a, since 2h ago
    slot 1   worker-b, since 1h ago
    waiting  worker-c, since 1m ago

Source rate (fleet-wide)
  source.yahoo: 2.5 of 10 requests/s, cut 20s ago (HTTP 429), recovering; failing for 40s (HTTP 429)

PostgreSQL: 85 of 100 sessions (85%)  WARN: above the 80% line
  [########################################|###.......]  | = the 80% line
  marketfleet-worker (70 workers)  70
  grafana                          12
  psql                             3

Failures (last hour): 7.1% failed (ok 1200, retried 80, dead-lettered 12)
  collect   ok 1100  retried 75  dead-lettered 12
  features  ok 100   retried 5   dead-lettered 0

Restatements (last 24 h)
  dividend  12 series of 4 symbols  30120 bars  1 refused (fleetctl actions SYMBOL says why)
  split     3 series of 1 symbol    98280 bars

History
  provisional bars 12 (3 due for re-collection, the oldest for 7h), known holes 2
  last audit 2h ago by worker/worker-a: 500 series, 4 gaps, 9 bars missing, 1 persisting after a repair, 4 repair tasks

Freshness (2 stalest series)
  SYMBOL  INTERVAL  LAST BAR (UTC)    AGE  LAST WRITE (UTC)
  AAPL    1wk       2025-02-24 00:00  8d   2025-03-02 08:20 (2d ago)
  MSFT    1d        2025-03-03 00:00  34h  2025-03-04 10:10 (10m ago)
`

func TestRenderPlain(t *testing.T) {
	var b bytes.Buffer
	if err := render(&b, sampleReport(), now, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != samplePlain {
		t.Fatalf("plain report:\n%s\nwant:\n%s", got, samplePlain)
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Fatal("plain output has ANSI escapes")
	}
	b.Reset()
	if err := render(&b, sampleReport(), now, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[33mWARN\x1b[0m") {
		t.Fatalf("colour output has no yellow WARN:\n%q", b.String())
	}
}

func TestRenderUnreachableAndEmpty(t *testing.T) {
	r := statusReport{At: now, NATSError: "NATS unreachable (NATS_URL): nats: no servers available for connection",
		Postgres:     &postgresStatus{MaxConnections: 100, Sessions: 5, UsagePercent: 5, Apps: []appSessions{}},
		Failures:     &failureStatus{ByKind: []kindCount{}},
		Restatements: &restatementStatus{ByKind: []restatementCount{}},
		History:      &historyStatus{},
		Freshness:    &freshnessStatus{Series: []seriesStatus{}}}
	var b bytes.Buffer
	if err := render(&b, r, now, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CRIT  NATS unreachable (NATS_URL): nats: no servers available for connection\n",
		"Backlog: unavailable (NATS could not be read)\n",
		"Dead letters: unavailable (NATS could not be read)\n",
		"Connection slots: unavailable (NATS could not be read)\n",
		"PostgreSQL: 5 of 100 sessions (5%)\n",
		"Failures (last hour): no tasks in the last hour\n",
		"Restatements (last 24 h): none\n",
		"History\n  provisional bars 0, known holes 0\n  last audit: never (fleetctl audit)\n",
		"Freshness: no bars stored\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestVerdict(t *testing.T) {
	pg := func(sessions int) func(*statusReport) {
		return func(r *statusReport) {
			r.Postgres = &postgresStatus{MaxConnections: 100, SuperuserReserved: 3, Sessions: sessions, UsagePercent: float64(sessions)}
		}
	}
	fail := func(ok, retried, dead int64) func(*statusReport) {
		return func(r *statusReport) {
			f, _ := failuresOf(map[string]store.TaskCount{"collect": {Kind: "collect", OK: ok, Retried: retried, DeadLettered: dead}}, now, nil)
			r.Failures = &f
		}
	}
	waiting := func(n int) func(*statusReport) {
		return func(r *statusReport) { r.Slots = &slots.State{Waiting: make([]slots.Holder, n)} }
	}
	oldest := func(d time.Duration) func(*statusReport) {
		return func(r *statusReport) {
			r.Backlog = &backlogStatus{Stream: "S", Consumers: []consumerStatus{{Name: "marketfleet-workers", Pending: 1, OldestWaiting: at(d)}}}
		}
	}
	tests := []struct {
		name  string
		set   []func(*statusReport)
		level string
		texts []string
	}{
		{"all quiet", nil, levelOK, nil},
		{"sessions 79%", fns(pg(79)), levelOK, nil},
		{"sessions 80% is on the line, not above", fns(pg(80)), levelOK, nil},
		{"sessions 81%", fns(pg(81)), levelWarn, []string{"sessions at 81% of max_connections"}},
		{"sessions at max minus reserved", fns(pg(97)), levelCrit, []string{"sessions at 97% of max_connections: none left for ordinary roles"}},
		{"failure 4.9%", fns(fail(951, 49, 0)), levelOK, nil},
		{"failure 5%", fns(fail(95, 4, 1)), levelWarn, []string{"failure rate 5.0% in the last hour"}},
		{"failure 19.9%", fns(fail(801, 199, 0)), levelWarn, []string{"failure rate 19.9% in the last hour"}},
		{"failure 20%", fns(fail(80, 10, 10)), levelCrit, []string{"failure rate 20.0% in the last hour"}},
		{"no tasks", fns(fail(0, 0, 0)), levelOK, nil},
		{"one replica waiting", fns(waiting(1)), levelWarn, []string{"1 replica waiting for a slot"}},
		{"two replicas waiting", fns(waiting(2)), levelWarn, []string{"2 replicas waiting for a slot"}},
		{"oldest task 14m", fns(oldest(14 * time.Minute)), levelOK, nil},
		{"oldest task 15m", fns(oldest(15 * time.Minute)), levelWarn, []string{"oldest waiting task 15m old (marketfleet-workers)"}},
		{"oldest task 2h", fns(oldest(2 * time.Hour)), levelCrit, []string{"oldest waiting task 2h old (marketfleet-workers)"}},
		{"dead letters", fns(func(r *statusReport) { r.DeadLetters = &deadLetterStatus{Total: 12} }), levelWarn, []string{"12 dead letters"}},
		{"postgres unreachable", fns(func(r *statusReport) { r.PostgresError = "PostgreSQL unreachable (DATABASE_URL): refused" }),
			levelCrit, []string{"PostgreSQL unreachable (DATABASE_URL): refused"}},
		{"missing consumer", fns(func(r *statusReport) {
			r.Backlog = &backlogStatus{Stream: "S", Consumers: []consumerStatus{{Name: "c", Missing: true}}}
		}), levelCrit, []string{"consumer c does not exist (a worker recreates it)"}},
		{"budget 0", fns(func(r *statusReport) {
			r.Slots = &slots.State{Limit: &slots.Limit{Slots: 0, Arithmetic: "max_connections 100 - reserved 3 - reserve 20 - other sessions 80 = -3 (budget 0)"}}
		}), levelCrit, []string{"the connection budget is 0 (max_connections 100 - reserved 3 - reserve 20 - other sessions 80 = -3 (budget 0)): no worker may hold a session"}},
		{"missing stream", fns(func(r *statusReport) { r.Backlog = &backlogStatus{Stream: "S", Missing: true} }),
			levelCrit, []string{"task stream S does not exist (a worker recreates it)"}},
		{"worst first", fns(waiting(2), pg(97), fail(90, 10, 0)), levelCrit, []string{
			"sessions at 97% of max_connections: none left for ordinary roles", "failure rate 10.0% in the last hour", "2 replicas waiting for a slot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := statusReport{At: now}
			for _, set := range tt.set {
				set(&r)
			}
			v := finish(r, now).Verdict
			var texts []string
			for _, f := range v.Findings {
				texts = append(texts, f.Text)
			}
			if v.Level != tt.level || !reflect.DeepEqual(texts, tt.texts) {
				t.Fatalf("verdict = %s %q, want %s %q", v.Level, texts, tt.level, tt.texts)
			}
		})
	}
}

func fns(f ...func(*statusReport)) []func(*statusReport) { return f }

func TestRenderJSONFieldNames(t *testing.T) {
	var b bytes.Buffer
	if err := renderJSON(&b, sampleReport(), now, true); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, b.String())
	}
	for path, want := range map[string]any{
		"verdict.level":                                  "WARN",
		"verdict.findings.0.text":                        "sessions at 85% of max_connections",
		"backlog.consumers.0.pending":                    1500.0,
		"backlog.consumers.0.oldest_waiting_age_seconds": 240.0,
		"backlog.consumers.1.oldest_waiting_age_seconds": nil,
		"dead_letters.by_class.exhausted":                7.0,
		"dead_letters.top_reasons.1.reason":              "symbol ZZZZ not found",
		"slots.waiting.0.holder":                         "worker-c",
		"slots.budget.slots":                             2.0,
		"postgres.usage_percent":                         85.0,
		"postgres.apps.0.workers":                        70.0,
		"failures.dead_lettered":                         12.0,
		"freshness.series.1.age_seconds":                 float64(34*3600 + 20*60),
		"nats_error":                                     nil,
	} {
		if got := lookup(doc, path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
}

// lookup follows a dotted path of keys and indexes through decoded JSON.
func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestPostgresOfGroupsTheFleet(t *testing.T) {
	got := postgresOf(store.ServerLimits{MaxConnections: 50, SelfApp: fleetctlApp, Sessions: map[string]int{
		"marketfleet-worker/a": 1, "marketfleet-worker/b": 1, "marketfleet-worker/c": 1,
		"grafana": 4, fleetctlApp: 1, "": 2,
	}})
	want := postgresStatus{MaxConnections: 50, Sessions: 9, UsagePercent: 18, Apps: []appSessions{
		{Name: "grafana", Sessions: 4}, {Name: fleetApp, Sessions: 3, Workers: 3}, {Name: "", Sessions: 2}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("postgresOf = %+v, want %+v", got, want)
	}
}

func TestDeadLettersOf(t *testing.T) {
	long := strings.Repeat("x", 300)
	var recs []dlq.Record
	add := func(n int, class outcome.Class, reason string, d time.Duration) {
		for range n {
			recs = append(recs, dlq.Record{Class: class, Reason: reason, DeadAt: now.Add(-d)})
		}
	}
	add(2, outcome.Exhausted, "b timeout", time.Hour)
	add(3, outcome.NotFound, long, 2*time.Hour)
	add(2, outcome.Exhausted, "a timeout", time.Minute)
	add(1, outcome.Invalid, "bad", 3*time.Hour)
	// The counts are the stream's (1,000 dead letters); the reasons come
	// from the newest 8 only.
	sum := dlq.Summary{Total: 1000, Bytes: 50 << 20, MaxBytes: 200 << 20, Newest: now.Add(-time.Minute),
		ByClass: map[dlq.Class]uint64{"exhausted": 600, "not_found": 300, "invalid": 100}, Recent: recs}
	got := deadLettersOf(sum)
	want := deadLetterStatus{Total: 1000, ByClass: map[string]int{"exhausted": 600, "not_found": 300, "invalid": 100},
		TopReasons: []reasonCount{{long[:maxReasonLen-3] + "...", 3}, {"a timeout", 2}, {"b timeout", 2}}, ReasonsAmong: 8,
		Newest: at(time.Minute), UsedPercent: 25}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deadLettersOf = %+v, want %+v", got, want)
	}
	if empty := deadLettersOf(dlq.Summary{}); empty.Total != 0 || empty.Newest != nil || empty.TopReasons == nil {
		t.Fatalf("deadLettersOf(empty) = %+v", empty)
	}
}

func TestFailuresOfOldSchemaIsUnavailable(t *testing.T) {
	f, err := failuresOf(nil, now, &pgconn.PgError{Code: "42P01"})
	if err != nil || f.Unavailable == "" {
		t.Fatalf("failuresOf(undefined table) = %+v, %v; want unavailable, no error", f, err)
	}
	if _, err := failuresOf(nil, now, &pgconn.PgError{Code: "57014"}); err == nil {
		t.Fatal("failuresOf(query canceled) hid the error")
	}
}

func TestSessionBar(t *testing.T) {
	for _, tt := range []struct {
		usage float64
		want  string
	}{
		{0, "[" + strings.Repeat(".", 40) + "|" + strings.Repeat(".", 10) + "]"},
		{80, "[" + strings.Repeat("#", 40) + "|" + strings.Repeat(".", 10) + "]"},
		{85, "[" + strings.Repeat("#", 40) + "|###" + strings.Repeat(".", 7) + "]"},
		{130, "[" + strings.Repeat("#", 40) + "|" + strings.Repeat("#", 10) + "]"},
	} {
		if got := sessionBar(tt.usage); got != tt.want {
			t.Errorf("sessionBar(%v) = %s, want %s", tt.usage, got, tt.want)
		}
	}
}

func TestParseStatusFlags(t *testing.T) {
	tests := []struct {
		args  []string
		want  statusOptions
		isErr bool
	}{
		{nil, statusOptions{Stale: 10, Timeout: 10 * time.Second}, false},
		{[]string{"--watch"}, statusOptions{Watch: 2 * time.Second, Stale: 10, Timeout: 10 * time.Second}, false},
		{[]string{"--watch=5s", "--json", "--stale", "3"}, statusOptions{JSON: true, Watch: 5 * time.Second, Stale: 3, Timeout: 10 * time.Second}, false},
		{[]string{"--watch=0s"}, statusOptions{}, true},
		{[]string{"--stale", "0"}, statusOptions{}, true},
		{[]string{"extra"}, statusOptions{}, true},
	}
	for _, tt := range tests {
		got, err := parseStatusFlags(tt.args, io.Discard)
		if (err != nil) != tt.isErr || err == nil && got != tt.want {
			t.Errorf("parseStatusFlags(%q) = %+v, %v; want %+v (error: %v)", tt.args, got, err, tt.want, tt.isErr)
		}
	}
}
