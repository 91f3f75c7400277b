package monitoring_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rule is one alerting or recording rule of a Prometheus rules file.
type rule struct {
	alert, record string
	expr          string
	labels        map[string]string
	annotations   map[string]string
	line          int
}

func (r rule) name() string { return r.alert + r.record }

var ruleStart = regexp.MustCompile(`^(\s*)- (alert|record):\s*(.*)$`)

// parseRules reads the rules of a rules file written the usual way (block
// style, one key a line, expr as a plain or quoted scalar or a | / > block).
// It is no YAML parser: promtool validates the file, and
// TestPromtoolCheckRules checks this finds as many rules as promtool does.
func parseRules(text string) ([]rule, error) {
	lines := strings.Split(text, "\n")
	var rules []rule
	for i := 0; i < len(lines); i++ {
		m := ruleStart.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		r := rule{labels: map[string]string{}, annotations: map[string]string{}, line: i + 1}
		name := unquote(m[3])
		if m[2] == "alert" {
			r.alert = name
		} else {
			r.record = name
		}
		keyIndent := len(m[1]) + 2
		section := ""
		for i+1 < len(lines) {
			l := lines[i+1]
			ind := indent(l)
			if strings.TrimSpace(l) != "" && ind < keyIndent {
				break
			}
			i++
			content := strings.TrimSpace(l)
			if content == "" || strings.HasPrefix(content, "#") {
				continue
			}
			key, value, ok := strings.Cut(content, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: not a key: value line: %q", i+1, l)
			}
			value = strings.TrimSpace(value)
			if isBlock(value) {
				var block string
				block, i = readBlock(lines, i, ind, value)
				value = block
			} else {
				value = unquote(value)
			}
			switch {
			case ind == keyIndent:
				section = key
				switch key {
				case "expr":
					r.expr = value
				case "for", "keep_firing_for", "labels", "annotations":
				default:
					return nil, fmt.Errorf("line %d: unknown rule key %q", i+1, key)
				}
			case section == "labels":
				r.labels[key] = value
			case section == "annotations":
				r.annotations[key] = value
			default:
				return nil, fmt.Errorf("line %d: unexpected nesting under %q", i+1, section)
			}
		}
		if r.expr == "" {
			return nil, fmt.Errorf("line %d: rule %s has no expr", r.line, name)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

func isBlock(v string) bool {
	return v != "" && strings.Trim(v, "|>-+") == ""
}

// readBlock reads the block scalar that starts after line i (whose key is
// at indent ind) and returns it with the index of its last line.
func readBlock(lines []string, i, ind int, style string) (string, int) {
	var body []string
	blockIndent := -1
	for i+1 < len(lines) {
		l := lines[i+1]
		if strings.TrimSpace(l) != "" {
			if indent(l) <= ind {
				break
			}
			if blockIndent < 0 {
				blockIndent = indent(l)
			}
		}
		i++
		body = append(body, strings.TrimPrefix(l, strings.Repeat(" ", max(blockIndent, 0))))
	}
	sep := "\n"
	if strings.HasPrefix(style, ">") {
		sep = " "
	}
	return strings.TrimSpace(strings.Join(body, sep)), i
}

// unquote returns a YAML flow scalar's value: quotes removed, or a plain
// scalar cut at its comment.
func unquote(v string) string {
	v = strings.TrimSpace(v)
	switch {
	case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
		return v[1 : len(v)-1]
	}
	if before, _, found := strings.Cut(v, " #"); found {
		v = before
	}
	return strings.TrimSpace(v)
}

const runbookPrefix = "https://github.com/marketfleet/marketfleet/blob/main/" + operationsDoc + "#"

var (
	severities = []string{"critical", "warning", "info"}
	anchorForm = regexp.MustCompile(`^[a-z0-9_-]+$`)
)

// checkRules returns the problems of a rules file: rules that do not parse,
// alerts without severity, summary, description or runbook_url into
// docs/OPERATIONS.md, duplicate names, and expressions that refer to
// metrics, labels or values outside the contract.
func checkRules(text string) []string {
	rules, err := parseRules(text)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	add := func(r rule, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: %s: ", r.line, r.name())+fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.name()] {
			add(r, "a second rule with this name")
		}
		seen[r.name()] = true
		for _, p := range checkExpr(r.expr) {
			add(r, "expr: %s", p)
		}
		if r.alert == "" {
			continue
		}
		if !strings.HasPrefix(r.alert, "Marketfleet") {
			add(r, "alert names start with Marketfleet")
		}
		if s := r.labels["severity"]; !slices.Contains(severities, s) {
			add(r, "severity label %q, want one of %s", s, strings.Join(severities, ", "))
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.annotations[a]) == "" {
				add(r, "no %s annotation", a)
			}
		}
		anchor, ok := strings.CutPrefix(r.annotations["runbook_url"], runbookPrefix)
		if !ok || !anchorForm.MatchString(anchor) {
			add(r, "runbook_url %q, want %s<anchor>", r.annotations["runbook_url"], runbookPrefix)
		}
	}
	return problems
}

func TestRules(t *testing.T) {
	for _, p := range checkRules(readRepoFile(t, rulesPath)) {
		t.Errorf("%s: %s", rulesPath, p)
	}
}

// checkRules can fail: each mutation of the real file must be reported.
func TestCheckRulesCatchesMistakes(t *testing.T) {
	rules := readRepoFile(t, rulesPath)
	tests := []struct{ old, new, want string }{
		{"marketfleet_slot_waiting == 1", "marketfleet_slots_waiting == 1", "unknown metric marketfleet_slots_waiting"},
		{`deriv(jetstream_consumer_num_pending{`, `deriv(jetstream_consumer_pending{`, "unknown metric jetstream_consumer_pending"},
		{`{outcome!="ok"}`, `{outcome!="success"}`, "outcome is one of"},
		{"severity: info", "severity: page", `severity label "page"`},
		{"docs/OPERATIONS.md#the-backlog-grows", "docs/RUNBOOK.md#the-backlog-grows", "MarketfleetBacklogGrowing: runbook_url"},
		{"          summary: PostgreSQL sessions above 80% of max_connections\n", "", "MarketfleetPostgresSessionsHigh: no summary annotation"},
		{"- alert: MarketfleetSlotWaiting", "- alert: MarketfleetDeadLetters", "a second rule with this name"},
	}
	for _, tt := range tests {
		mutated := strings.Replace(rules, tt.old, tt.new, 1)
		if mutated == rules {
			t.Errorf("mutation %q did not apply: update this test", tt.old)
			continue
		}
		problems := checkRules(mutated)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("%q -> %q: problems %q, want one containing %q", tt.old, tt.new, problems, tt.want)
		}
	}
}

var (
	testAlertname = regexp.MustCompile(`^\s*(?:- )?alertname:\s*(\S+)\s*$`)
	testExpAlerts = regexp.MustCompile(`^\s*exp_alerts:\s*(\[\])?\s*$`)
)

// unitTestCases returns, per alert name in a promtool test file, how many
// cases expect it to fire and how many (`exp_alerts: []`) expect silence.
func unitTestCases(text string) (fires, quiet map[string]int) {
	fires, quiet = map[string]int{}, map[string]int{}
	current := ""
	for _, l := range strings.Split(text, "\n") {
		if m := testAlertname.FindStringSubmatch(l); m != nil {
			current = unquote(m[1])
			continue
		}
		if m := testExpAlerts.FindStringSubmatch(l); m != nil && current != "" {
			if m[1] != "" {
				quiet[current]++
			} else {
				fires[current]++
			}
			current = ""
		}
	}
	return fires, quiet
}

// Every alert has a unit test where it fires and one where it must not, and
// every alert a unit test names exists (promtool passes `exp_alerts: []` for
// an alert name that matches no rule).
func TestEveryAlertHasUnitTests(t *testing.T) {
	rules, err := parseRules(readRepoFile(t, rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := unitTestCases(readRepoFile(t, rulesTestPath))
	alerts := map[string]bool{}
	for _, r := range rules {
		if r.alert == "" {
			continue
		}
		alerts[r.alert] = true
		if fires[r.alert] == 0 {
			t.Errorf("%s: no case in %s where it fires", r.alert, rulesTestPath)
		}
		if quiet[r.alert] == 0 {
			t.Errorf("%s: no case in %s where it must not fire (exp_alerts: [])", r.alert, rulesTestPath)
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which %s does not define", rulesTestPath, name, rulesPath)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which %s does not define", rulesTestPath, name, rulesPath)
		}
	}
}
