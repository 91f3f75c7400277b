package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"marketfleet/audit"
	"marketfleet/internal/testenv"
)

// checksum is a digest of every stored bar's values: two tables with the
// same checksum hold the same bars.
func (e *env) checksum(t *testing.T) string {
	t.Helper()
	var sum string
	if err := e.admin.QueryRow(context.Background(), `SELECT md5(coalesce(string_agg(
		concat_ws(',', symbol, "interval", ts, open, high, low, close, adj_close, volume, source), ';' ORDER BY symbol, "interval", ts), ''))
		FROM bars`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func runAuditJSON(t *testing.T, e *env, args ...string) audit.Report {
	t.Helper()
	code, out, errOut := e.runCmd(t, nil, "fleetctl", append([]string{"audit", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("fleetctl audit --json %v: exit %d: %s", args, code, errOut)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("fleetctl audit --json: %v in %q", err, out)
	}
	return r
}

// Rows deleted from a collected history (single days, a week, across a
// month's end, the days after a holiday and before and after an early
// close) are exactly the gaps fleetctl audit reports, never a weekend or a
// holiday; the heatmap shows them in a real browser; audit --repair makes
// the table identical to the control run's; a second audit finds nothing;
// fleetctl status shows the last audit.
func TestAuditFindsAndRepairsDeletedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.startWorker(t, "auditor", "FLEET_FEATURES=false", "FLEET_AUDIT_EVERY=-1s")
	defer w.stop(t, 10*time.Second)
	if code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--interval", "1d", "--from", "2023-11-01", "--to", "2024-03-01", "AUDA", "AUDB"); code != 0 {
		t.Fatalf("enqueue: exit %d %s %s", code, out, errOut)
	}
	ctx := context.Background()
	// The synthetic source has a bar for every calendar day: 121 each.
	testenv.Eventually(t, 60*time.Second, "both series stored", func() bool {
		var n int
		return e.admin.QueryRow(ctx, `SELECT count(*) FROM bars`).Scan(&n) == nil && n == 2*121
	})
	control := e.checksum(t)
	deleted := map[string][]string{
		// A single day; a week; the Friday after Thanksgiving (an early
		// close); the Tuesday after Martin Luther King Day. (The source's
		// weekend and holiday bars stay: the audit must not expect them.)
		"AUDA": {"2023-11-08", "2024-02-05", "2024-02-06", "2024-02-07", "2024-02-08", "2024-02-09", "2023-11-24", "2024-01-16"},
		// Across the end of November; the sessions before and after
		// Christmas, a holiday (and a weekend) apart: one gap of 2 bars.
		"AUDB": {"2023-11-30", "2023-12-01", "2023-12-22", "2023-12-26"},
	}
	for sym, days := range deleted {
		if _, err := e.admin.Exec(ctx, `DELETE FROM bars WHERE symbol = $1 AND ts::date = ANY($2::date[])`, sym, days); err != nil {
			t.Fatal(err)
		}
	}
	r := runAuditJSON(t, e)
	var got []string
	for _, g := range r.Gaps() {
		got = append(got, fmt.Sprintf("%s %s..%s %d", g.Series, g.First.Format(time.DateOnly), g.Last.Format(time.DateOnly), g.Bars))
	}
	want := []string{
		"AUDA/1d 2023-11-08..2023-11-08 1", "AUDA/1d 2023-11-24..2023-11-24 1", "AUDA/1d 2024-01-16..2024-01-16 1",
		"AUDA/1d 2024-02-05..2024-02-09 5",
		"AUDB/1d 2023-11-30..2023-12-01 2", "AUDB/1d 2023-12-22..2023-12-26 2",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("gaps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if r.Totals.Missing != 12 || r.Totals.Gaps != 6 || r.Totals.Series != 2 {
		t.Fatalf("totals %+v, want 12 bars missing in 6 gaps of 2 series", r.Totals)
	}

	// The heatmap, in a real browser: February 2024 of AUDA is a gap
	// month, December 2023 of AUDA is full.
	page := filepath.Join(t.TempDir(), "coverage.html")
	if code, _, errOut := e.runCmd(t, nil, "fleetctl", "audit", "--html", page); code != 0 {
		t.Fatalf("fleetctl audit --html: exit %d: %s", code, errOut)
	}
	dom := testenv.DumpDOM(t, page, 1200, 700)
	for cell, class := range map[string]string{
		`data-series="AUDA/1d" data-month="2024-02"`: "gap",
		`data-series="AUDA/1d" data-month="2023-12"`: "full",
		`data-series="AUDB/1d" data-month="2023-12"`: "gap",
	} {
		re := regexp.MustCompile(`<td class="([^"]*)" ` + regexp.QuoteMeta(cell))
		m := re.FindStringSubmatch(dom)
		if m == nil || !strings.HasPrefix(m[1], class) {
			t.Errorf("heatmap cell %s: %v, want class %s", cell, m, class)
		}
	}

	// Repair, waiting for it with a progress bar on stderr.
	code, out, errOut := e.runCmd(t, nil, "fleetctl", "audit", "--repair", "--wait", "60s")
	if code != 0 || !strings.Contains(errOut, "6 repair tasks for 6 gaps: 6 accepted") || !strings.Contains(errOut, "12/12 bars") {
		t.Fatalf("audit --repair: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := e.checksum(t); got != control {
		t.Fatalf("after the repair the table differs from the control run (%s, want %s)", got, control)
	}
	again := runAuditJSON(t, e)
	if again.Totals.Missing != 0 || again.Totals.Gaps != 0 || again.Totals.Holes != 0 {
		t.Fatalf("second audit: %+v, want nothing missing", again.Totals)
	}
	code, out, errOut = e.runCmd(t, nil, "fleetctl", "status", "--json")
	var st struct {
		History struct {
			LastAudit struct {
				Gaps   int    `json:"gaps"`
				Series int    `json:"series"`
				By     string `json:"by"`
			} `json:"last_audit"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.History.LastAudit.Series != 2 || st.History.LastAudit.Gaps != 0 ||
		!strings.HasPrefix(st.History.LastAudit.By, "fleetctl@") {
		t.Fatalf("status --json (exit %d, %v): %s %s", code, err, out, errOut)
	}
	_ = os.Remove(page)
}
