package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"marketfleet/internal/testenv"
	"marketfleet/metrics"
	"marketfleet/queue"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads a worker's /metrics: "name{k=v,...}" (labels sorted) -> value,
// histograms as their _count; and the set of families.
func scrape(t *testing.T, addr string) (map[string]float64, []string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	out := map[string]float64{}
	var names []string
	for name, mf := range mfs {
		if strings.HasPrefix(name, "marketfleet_") {
			names = append(names, name)
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	slices.Sort(names)
	return out, names
}

// TestMetricsCountWhatHappened runs a known workload through one worker
// and checks its /metrics against what happened: 5 tasks applied (and their
// 5 features follow-ups), one failing on every delivery (2 retries, then
// dead-lettered as exhausted), one unknown at the source, one invalid
// envelope; the consumer's deliveries equal the settlements counted.
func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	_, yahooURL, _ := startFakeYahoo(t)
	e := newEnv(t)
	js := e.js(t)
	e.enqueue(t, "2020-01-01", "2020-01-04", "OK1", "OK2", "OK3", "OK4", "OK5", "FAIL", "GONE")
	if _, err := js.Publish(context.Background(), queue.Subject("collect"), []byte(`{"v":1,"kind":`)); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	w := e.startWorker(t, "metrics-1", "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+yahooURL, "FLEET_SOURCE_RATE=0",
		"FLEET_MAX_DELIVER=3", "FLEET_RETRY_BASE=50ms", "FLEET_RETRY_MAX=200ms", "FLEET_METRICS_ADDR="+addr)
	waitDrained(t, js, 60*time.Second)
	time.Sleep(6 * time.Second) // one housekeeping round: the fleet view is fresh
	got, names := scrape(t, addr)
	want := map[string]float64{
		"marketfleet_tasks_total{kind=collect,outcome=ok}":                    5,
		"marketfleet_tasks_total{kind=features,outcome=ok}":                   5,
		"marketfleet_tasks_total{kind=collect,outcome=retried}":               2,
		"marketfleet_tasks_total{kind=collect,outcome=dead_lettered}":         2,
		"marketfleet_tasks_total{kind=invalid,outcome=dead_lettered}":         1,
		"marketfleet_task_errors_total{class=exhausted,kind=collect}":         1,
		"marketfleet_task_errors_total{class=not_found,kind=collect}":         1,
		"marketfleet_task_errors_total{class=transient,kind=collect}":         2,
		"marketfleet_task_errors_total{class=invalid,kind=invalid}":           1,
		"marketfleet_dead_letters_total{class=exhausted}":                     1,
		"marketfleet_dead_letters_total{class=not_found}":                     1,
		"marketfleet_dead_letters_total{class=invalid}":                       1,
		"marketfleet_db_session_up{}":                                         1,
		"marketfleet_slot_held{}":                                             1,
		"marketfleet_slot_waiting{}":                                          0,
		"marketfleet_nats_connected{}":                                        1,
		"marketfleet_budget_slots{}":                                          got["marketfleet_budget_slots{}"],
		"marketfleet_source_request_duration_seconds{source=yahoo,status=ok}": 5,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	var maxConn int
	if err := e.admin.QueryRow(context.Background(), `SELECT current_setting('max_connections')::int`).Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	if got["marketfleet_pg_max_connections{}"] != float64(maxConn) || got["marketfleet_budget_slots{}"] < 1 ||
		got["marketfleet_pg_sessions{application=marketfleet-worker}"] < 1 {
		t.Errorf("fleet view: max_connections %v (want %d), budget %v, fleet sessions %v", got["marketfleet_pg_max_connections{}"],
			maxConn, got["marketfleet_budget_slots{}"], got["marketfleet_pg_sessions{application=marketfleet-worker}"])
	}
	// Every delivery the consumer made was settled once and counted once.
	var settled float64
	for k, v := range got {
		if strings.HasPrefix(k, "marketfleet_tasks_total{") {
			settled += v
		}
	}
	if info := consumerInfo(t, js); float64(info.Delivered.Consumer) != settled {
		t.Errorf("the consumer delivered %d times, the worker counted %v settlements", info.Delivered.Consumer, settled)
	}
	// The worker exports exactly the contract (it holds slot 0: fleet view included).
	if want := slices.Sorted(slices.Values(metrics.Names)); !slices.Equal(names, want) {
		t.Errorf("exported families\n got %v\nwant %v", names, want)
	}
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	// The per-minute counts behind fleetctl status were stored too.
	var ok, retried, dead int
	if err := e.admin.QueryRow(context.Background(), `SELECT coalesce(sum(ok),0), coalesce(sum(retried),0), coalesce(sum(dead_lettered),0)
		FROM task_counts WHERE worker = 'metrics-1'`).Scan(&ok, &retried, &dead); err != nil {
		t.Fatal(err)
	}
	if ok != 10 || retried != 2 || dead != 3 {
		t.Errorf("task_counts: %d ok, %d retried, %d dead-lettered; want 10, 2, 3", ok, retried, dead)
	}
	// fleetctl status reads the same state: 3 dead letters by class, the
	// failure rate of the last hour, the series written.
	code, out, errOut := e.runCmd(t, nil, "fleetctl", "status", "--json")
	if code != 0 {
		t.Fatalf("fleetctl status --json: exit %d: %s%s", code, out, errOut)
	}
	var st struct {
		DeadLetters struct {
			Total   int            `json:"total"`
			ByClass map[string]int `json:"by_class"`
		} `json:"dead_letters"`
		Failures struct {
			OK           int     `json:"ok"`
			Retried      int     `json:"retried"`
			DeadLettered int     `json:"dead_lettered"`
			Percent      float64 `json:"failure_percent"`
		} `json:"failures"`
		Freshness struct {
			Series []struct{ Symbol string } `json:"series"`
		} `json:"freshness"`
		Verdict struct {
			Level string `json:"level"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("fleetctl status --json: %v\n%s", err, out)
	}
	if st.DeadLetters.Total != 3 || st.DeadLetters.ByClass["exhausted"] != 1 || st.DeadLetters.ByClass["not_found"] != 1 ||
		st.DeadLetters.ByClass["invalid"] != 1 {
		t.Errorf("status dead letters = %+v, want exhausted, not_found and invalid", st.DeadLetters)
	}
	if st.Failures.OK != 10 || st.Failures.Retried != 2 || st.Failures.DeadLettered != 3 || st.Failures.Percent < 33 || st.Failures.Percent > 34 {
		t.Errorf("status failures = %+v, want 10 ok, 2 retried, 3 dead-lettered (33.3%%)", st.Failures)
	}
	if len(st.Freshness.Series) != 5 || st.Verdict.Level == "OK" {
		t.Errorf("status freshness %+v (want the 5 stored series), verdict %q (want a warning: dead letters)", st.Freshness.Series, st.Verdict.Level)
	}
}

// TestReadinessFollowsTheSession: /readyz answers 200 while the worker
// holds its session, 503 once the session is killed (and reconnecting is
// impossible), 200 again after it reconnects.
func TestReadinessFollowsTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	e.startWorker(t, "ready-1", "FLEET_METRICS_ADDR="+addr)
	ready := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for ready() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not answer %d within %s (last %d)", want, within, ready())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus(http.StatusOK, 30*time.Second)
	ctx := context.Background()
	db := pgx.Identifier{e.admin.Config().Database}.Sanitize()
	server := testenv.Connect(t, testenv.AdminURL()) // a database may not refuse its own sessions
	if _, err := server.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS false`, db)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = server.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, db))
	})
	var n int
	if err := e.admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'marketfleet-worker/ready-1'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d backends (%v), want the worker's one", n, err)
	}
	waitStatus(http.StatusServiceUnavailable, 15*time.Second)
	got, _ := scrape(t, addr)
	if got["marketfleet_db_session_up{}"] != 0 {
		t.Fatalf("marketfleet_db_session_up = %v while /readyz says no session", got["marketfleet_db_session_up{}"])
	}
	// Let a reconnection attempt meet the refusal before connections are
	// allowed again (under load the first attempt may come late).
	refused := func() float64 {
		got, _ := scrape(t, addr)
		var failures float64
		for k, v := range got {
			if strings.HasPrefix(k, "marketfleet_db_connect_failures_total") {
				failures += v
			}
		}
		return failures
	}
	testenv.Eventually(t, 30*time.Second, "a refused connection attempt to be counted", func() bool { return refused() >= 1 })
	if _, err := server.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, db)); err != nil {
		t.Fatal(err)
	}
	waitStatus(http.StatusOK, 30*time.Second)
	got, _ = scrape(t, addr)
	if got["marketfleet_db_session_up{}"] != 1 || got["marketfleet_db_reconnects_total{}"] < 1 {
		t.Fatalf("after the reconnect: session_up %v, reconnects %v", got["marketfleet_db_session_up{}"], got["marketfleet_db_reconnects_total{}"])
	}
}
