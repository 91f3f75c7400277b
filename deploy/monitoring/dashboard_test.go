package monitoring_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboard is the part of a Grafana dashboard's JSON the checks read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	GridPos    gridPos  `json:"gridPos"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // a collapsed row's panels
}

type gridPos struct{ H, W, X, Y int }

type target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Datasource   *dsRef `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// dsVariable is the dashboard's data source variable.
const dsVariable = "DS_PROMETHEUS"

// grafanaVars are the Grafana variables a query may use, with the value
// that stands in for them when promtool checks its syntax.
var grafanaVars = map[string]string{
	"$__rate_interval": "5m",
	"$__interval":      "1m",
	"$__range":         "1h",
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// flatten returns every panel, rows and the panels of collapsed rows
// included.
func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// checkDashboard returns the problems of a dashboard: panels without a
// title or targets, data sources other than the DS_PROMETHEUS variable,
// layout overlaps, queries outside the contract, and contract metrics no
// panel shows.
func checkDashboard(data []byte) []string {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return []string{"not valid JSON: " + err.Error()}
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.UID == "" || d.Title == "" {
		add("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		add("schemaVersion %d, want 36 or later (Grafana 9+)", d.SchemaVersion)
	}
	if !slices.Contains(d.Templating.List, variable{Name: dsVariable, Type: "datasource", Query: "prometheus"}) {
		add("no datasource variable %s of type prometheus", dsVariable)
	}
	wantDS := dsRef{Type: "prometheus", UID: "${" + dsVariable + "}"}
	known := allLabels()
	used := map[string]bool{}
	ids := map[int]bool{}
	all := flatten(d.Panels)
	if len(all) == 0 {
		add("no panels")
	}
	for _, p := range all {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			add("%s: a second panel with this id", where)
		}
		ids[p.ID] = true
		if strings.TrimSpace(p.Title) == "" {
			add("%s: no title", where)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			add("%s: gridPos %+v is outside the 24-column grid", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != wantDS {
			add("%s: datasource %+v, want %+v", where, p.Datasource, wantDS)
		}
		if len(p.Targets) == 0 {
			add("%s: no targets", where)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && *tg.Datasource != wantDS {
				add("%s target %s: datasource %+v, want %+v", where, tg.RefID, *tg.Datasource, wantDS)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				add("%s target %s: no expr", where, tg.RefID)
			}
			for _, prob := range checkExpr(tg.Expr) {
				add("%s target %s: %s", where, tg.RefID, prob)
			}
			for _, name := range metricNames(tg.Expr) {
				used[name] = true
			}
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !known[m[1]] {
					add("%s target %s: legend label %s: no known series has it", where, tg.RefID, m[1])
				}
			}
		}
	}
	problems = append(problems, overlaps(all)...)
	for name := range contract {
		if !used[name] {
			add("no panel shows %s", name)
		}
	}
	slices.Sort(problems)
	return problems
}

// overlaps reports panels that cover the same cells of the grid.
func overlaps(ps []panel) []string {
	var out []string
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				out = append(out, fmt.Sprintf("panels %d %q and %d %q overlap", a.ID, a.Title, b.ID, b.Title))
			}
		}
	}
	return out
}

func TestDashboard(t *testing.T) {
	for _, p := range checkDashboard([]byte(readRepoFile(t, dashboardPath))) {
		t.Errorf("%s: %s", dashboardPath, p)
	}
}

// checkDashboard can fail: each mutation of the real file must be reported.
func TestCheckDashboardCatchesMistakes(t *testing.T) {
	orig := readRepoFile(t, dashboardPath)
	tests := []struct{ old, new, want string }{
		{"marketfleet_bars_written_total", "marketfleet_bars_writen_total", "unknown metric marketfleet_bars_writen_total"},
		{"jetstream_consumer_num_redelivered", "jetstream_consumer_redelivered", "unknown metric jetstream_consumer_redelivered"},
		{`"title": "Tasks settled by outcome"`, `"title": ""`, "no title"},
		{`"legendFormat": "{{consumer}}"`, `"legendFormat": "{{consumr}}"`, "legend label consumr"},
		{`"uid": "${DS_PROMETHEUS}"`, `"uid": "prometheus"`, "datasource"},
		{`"w": 12`, `"w": 14`, "overlap"},
	}
	for _, tt := range tests {
		mutated := strings.Replace(orig, tt.old, tt.new, 1)
		if mutated == orig {
			t.Errorf("mutation %q did not apply: update this test", tt.old)
			continue
		}
		problems := checkDashboard([]byte(mutated))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("%q -> %q: problems %q, want one containing %q", tt.old, tt.new, problems, tt.want)
		}
	}

	// A panel without targets.
	var d map[string]any
	if err := json.Unmarshal([]byte(orig), &d); err != nil {
		t.Fatal(err)
	}
	panels := d["panels"].([]any)
	for _, p := range panels {
		if p.(map[string]any)["type"] != "row" {
			delete(p.(map[string]any), "targets")
			break
		}
	}
	b, _ := json.Marshal(d)
	if problems := checkDashboard(b); !slices.ContainsFunc(problems, func(p string) bool { return strings.HasSuffix(p, "no targets") }) {
		t.Errorf("a panel without targets: problems %q", problems)
	}
}

// Every dashboard query is valid PromQL: promtool checks them as recording
// rules, with Grafana's variables replaced by durations.
func TestDashboardQueriesParse(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readRepoFile(t, dashboardPath)), &d); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range flatten(d.Panels) {
		for _, tg := range p.Targets {
			expr := tg.Expr
			for v, d := range grafanaVars {
				expr = strings.ReplaceAll(expr, v, d)
			}
			if strings.Contains(expr, "$") {
				t.Errorf("panel %d %q target %s: unknown Grafana variable in %s", p.ID, p.Title, tg.RefID, tg.Expr)
				continue
			}
			quoted, _ := json.Marshal(expr) // a JSON string is a YAML double-quoted scalar
			fmt.Fprintf(&b, "      - record: dashboard:panel_%d:%s\n        expr: %s\n", p.ID, tg.RefID, quoted)
			n++
		}
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "dashboard_rules.yml"), b.String())
	if got := promtoolRuleCount(t, dir, "dashboard_rules.yml"); got != n {
		t.Errorf("promtool found %d of the dashboard's %d queries", got, n)
	}
}
