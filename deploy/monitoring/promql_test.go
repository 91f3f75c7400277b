package monitoring_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// selector is one metric reference in a PromQL expression.
type selector struct {
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

// refs is what an expression refers to: metric selectors and the labels of
// by, without, on, ignoring, group_left and group_right clauses.
type refs struct {
	selectors []selector
	labels    []string
}

// checkedPrefix selects the metrics checked against a contract.
var checkedPrefix = regexp.MustCompile(`^(marketfleet|jetstream)_`)

var groupingKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// scanPromQL finds the metrics and grouping labels of expr with a small
// lexer: string literals and comments are skipped (a label value is never
// taken for a metric), numbers and durations too, and Grafana variables
// ($__rate_interval) are passed over. It does not validate the syntax:
// promtool does.
func scanPromQL(expr string) (refs, error) {
	var r refs
	s := &scanner{src: expr}
	for {
		s.skipSpace()
		if s.eof() {
			return r, nil
		}
		c := s.peek()
		switch {
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.pos++
			}
		case c == '"' || c == '\'' || c == '`':
			if _, err := s.str(); err != nil {
				return r, err
			}
		case c == '$':
			s.pos++
			s.ident()
		case isDigit(c) || c == '.':
			for !s.eof() && (isIdentChar(s.peek()) || s.peek() == '.') {
				s.pos++
			}
		case isIdentStart(c):
			id := s.ident()
			s.skipSpace()
			switch {
			case slices.Contains(groupingKeywords, id) && !s.eof() && s.peek() == '(':
				labels, err := s.labelList()
				if err != nil {
					return r, fmt.Errorf("%s (...): %w", id, err)
				}
				r.labels = append(r.labels, labels...)
			case checkedPrefix.MatchString(id):
				sel := selector{metric: id}
				if !s.eof() && s.peek() == '{' {
					ms, err := s.matchers()
					if err != nil {
						return r, fmt.Errorf("%s{...}: %w", id, err)
					}
					sel.matchers = ms
				}
				r.selectors = append(r.selectors, sel)
			case !s.eof() && s.peek() == '{': // another metric, such as up{job="x"}
				if _, err := s.matchers(); err != nil {
					return r, fmt.Errorf("%s{...}: %w", id, err)
				}
			}
		case c == '{':
			ms, err := s.matchers()
			if err != nil {
				return r, fmt.Errorf("{...}: %w", err)
			}
			r.selectors = append(r.selectors, selector{matchers: ms})
		default:
			s.pos++
		}
	}
}

type scanner struct {
	src string
	pos int
}

func (s *scanner) eof() bool  { return s.pos >= len(s.src) }
func (s *scanner) peek() byte { return s.src[s.pos] }

func (s *scanner) skipSpace() {
	for !s.eof() && strings.IndexByte(" \t\r\n", s.peek()) >= 0 {
		s.pos++
	}
}

func (s *scanner) ident() string {
	start := s.pos
	for !s.eof() && isIdentChar(s.peek()) {
		s.pos++
	}
	return s.src[start:s.pos]
}

// str reads a quoted string and returns its content, escapes resolved
// simply (a backslash keeps the next character).
func (s *scanner) str() (string, error) {
	quote := s.peek()
	start := s.pos
	s.pos++
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		s.pos++
		switch {
		case c == quote:
			return b.String(), nil
		case c == '\\' && quote != '`' && !s.eof():
			b.WriteByte(s.peek())
			s.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated string at offset %d", start)
}

// labelList reads "(a, b, c)".
func (s *scanner) labelList() ([]string, error) {
	s.pos++ // (
	var out []string
	for {
		s.skipSpace()
		if s.eof() {
			return nil, fmt.Errorf("missing )")
		}
		switch c := s.peek(); {
		case c == ')':
			s.pos++
			return out, nil
		case c == ',':
			s.pos++
		case isIdentStart(c):
			out = append(out, s.ident())
		default:
			return nil, fmt.Errorf("unexpected %q in a label list", c)
		}
	}
}

// matchers reads `{label op "value", ...}`.
func (s *scanner) matchers() ([]matcher, error) {
	s.pos++ // {
	var out []matcher
	for {
		s.skipSpace()
		if s.eof() {
			return nil, fmt.Errorf("missing }")
		}
		switch c := s.peek(); {
		case c == '}':
			s.pos++
			return out, nil
		case c == ',':
			s.pos++
		case isIdentStart(c):
			m := matcher{label: s.ident()}
			s.skipSpace()
			for _, op := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s.src[s.pos:], op) {
					m.op = op
					s.pos += len(op)
					break
				}
			}
			if m.op == "" {
				return nil, fmt.Errorf("label %s: missing operator", m.label)
			}
			s.skipSpace()
			if s.eof() || strings.IndexByte("\"'`", s.peek()) < 0 {
				return nil, fmt.Errorf("label %s: missing quoted value", m.label)
			}
			v, err := s.str()
			if err != nil {
				return nil, err
			}
			m.value = v
			out = append(out, m)
		default:
			return nil, fmt.Errorf("unexpected %q in a selector", c)
		}
	}
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// lookup finds metric in the worker contract or the exporter's list. A
// histogram's _bucket, _sum and _count series resolve to the histogram;
// labels are the labels a selector on that series may use.
func lookup(metric string) (labels map[string][]string, err error) {
	known := contract
	if strings.HasPrefix(metric, "jetstream_") {
		known = exporter
	}
	extra := map[string][]string{}
	for _, l := range targetLabels {
		extra[l] = nil
	}
	if f, ok := known[metric]; ok {
		if f.typ == histogram {
			return nil, fmt.Errorf("%s is a histogram: select its _bucket, _sum or _count series", metric)
		}
		return with(f.labels, extra), nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(metric, suffix)
		if f, found := known[base]; ok && found && f.typ == histogram {
			if suffix == "_bucket" {
				extra["le"] = nil
			}
			return with(f.labels, extra), nil
		}
	}
	if strings.HasPrefix(metric, "jetstream_") {
		return nil, fmt.Errorf("unknown metric %s: prometheus-nats-exporter does not export it", metric)
	}
	return nil, fmt.Errorf("unknown metric %s: not in the workers' contract", metric)
}

// allLabels is every label name any known series carries.
func allLabels() map[string]bool {
	out := map[string]bool{"le": true}
	for _, l := range targetLabels {
		out[l] = true
	}
	for _, fams := range []map[string]family{contract, exporter} {
		for _, f := range fams {
			for l := range f.labels {
				out[l] = true
			}
		}
	}
	return out
}

// simpleAlternation matches regexes such as "ok|retried", whose
// alternatives can be checked one by one.
var simpleAlternation = regexp.MustCompile(`^[\w-]+(\|[\w-]+)*$`)

// checkExpr returns the problems of one PromQL expression: unknown metrics,
// labels a metric does not have, label values it never takes, and grouping
// labels no known series has.
func checkExpr(expr string) []string {
	r, err := scanPromQL(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, sel := range r.selectors {
		if sel.metric == "" {
			problems = append(problems, "a selector without a metric name: name the metric so it can be checked")
			continue
		}
		labels, err := lookup(sel.metric)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, m := range sel.matchers {
			values, ok := labels[m.label]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s has no label %s", sel.metric, m.label))
			case values == nil:
			case m.op == "=" || m.op == "!=":
				if !slices.Contains(values, m.value) {
					problems = append(problems, fmt.Sprintf("%s{%s%s%q}: %s is one of %s", sel.metric, m.label, m.op, m.value, m.label, strings.Join(values, ", ")))
				}
			case simpleAlternation.MatchString(m.value):
				for _, alt := range strings.Split(m.value, "|") {
					if !slices.Contains(values, alt) {
						problems = append(problems, fmt.Sprintf("%s{%s%s%q}: %q is not a value of %s (%s)", sel.metric, m.label, m.op, m.value, alt, m.label, strings.Join(values, ", ")))
					}
				}
			}
		}
	}
	known := allLabels()
	for _, l := range r.labels {
		if !known[l] {
			problems = append(problems, fmt.Sprintf("grouping label %s: no known series has it", l))
		}
	}
	return problems
}

// metricNames returns the checked metric names expr refers to, histogram
// suffixes stripped.
func metricNames(expr string) []string {
	r, _ := scanPromQL(expr)
	var out []string
	for _, sel := range r.selectors {
		name := sel.metric
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if f, found := contract[base]; found && f.typ == histogram {
					name = base
				}
			}
		}
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

func TestCheckExpr(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string // substrings of the problems, in order; none: valid
	}{
		{"counter with values", `sum by (kind) (increase(marketfleet_tasks_total{outcome!="ok", kind=~"collect|features"}[15m]))`, nil},
		{"histogram bucket", `histogram_quantile(0.99, sum by (le, kind, priority) (rate(marketfleet_task_latency_seconds_bucket{priority="high"}[$__rate_interval])))`, nil},
		{"histogram count and sum", `sum(rate(marketfleet_batch_tasks_sum[5m])) / sum(rate(marketfleet_batch_tasks_count[5m]))`, nil},
		{"exporter", `max by (stream_name, consumer_name) (jetstream_consumer_num_pending{stream_name="MARKETFLEET_TASKS", consumer_name="marketfleet-workers"})`, nil},
		{"value that looks like a metric", `marketfleet_pg_sessions{application="marketfleet_tasks_totl"}`, nil},
		{"comment", "marketfleet_slot_held # marketfleet_slot_hold\n", nil},
		{"other metrics", `up{job="marketfleet-worker"} == 0 or absent(marketfleet_budget_slots)`, nil},
		{"target labels", `marketfleet_slot_held == 1 and on (instance, job) marketfleet_db_session_up{instance="w0:9464"} == 0`, nil},
		{"misspelt metric", `sum(rate(marketfleet_task_total[5m]))`, []string{"unknown metric marketfleet_task_total: not in the workers' contract"}},
		{"suffix on a counter", `marketfleet_tasks_total_count`, []string{"unknown metric marketfleet_tasks_total_count"}},
		{"bare histogram", `rate(marketfleet_batch_tasks[5m])`, []string{"marketfleet_batch_tasks is a histogram"}},
		{"le on a count", `marketfleet_batch_tasks_count{le="1"}`, []string{"marketfleet_batch_tasks_count has no label le"}},
		{"misspelt exporter metric", `jetstream_consumer_num_pendings`, []string{"unknown metric jetstream_consumer_num_pendings: prometheus-nats-exporter does not export it"}},
		{"unknown label", `marketfleet_tasks_total{outcom="ok"}`, []string{"marketfleet_tasks_total has no label outcom"}},
		{"unknown value", `marketfleet_tasks_total{outcome="success"}`, []string{`outcome is one of ok, retried, dead_lettered`}},
		{"unknown value in a regex", `marketfleet_tasks_total{outcome=~"ok|sucess"}`, []string{`"sucess" is not a value of outcome`}},
		{"unknown consumer", `jetstream_consumer_num_pending{consumer_name="marketfleet-worker"}`, []string{`consumer_name is one of`}},
		{"unknown grouping label", `sum by (knd) (marketfleet_tasks_total)`, []string{"grouping label knd"}},
		{"no metric name", `sum({__name__="marketfleet_tasks_total"})`, []string{"a selector without a metric name"}},
		{"unterminated string", `marketfleet_tasks_total{outcome="ok}`, []string{"unterminated string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkExpr(tt.expr)
			if len(got) != len(tt.want) {
				t.Fatalf("checkExpr(%s) = %q, want %d problems like %q", tt.expr, got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.5, rate(marketfleet_task_duration_seconds_bucket[5m])) / jetstream_consumer_num_pending + marketfleet_tasks_total + up`)
	want := []string{"marketfleet_task_duration_seconds", "jetstream_consumer_num_pending", "marketfleet_tasks_total"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}
