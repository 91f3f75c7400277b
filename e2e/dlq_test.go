package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"marketfleet/dlq"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/source"
	"marketfleet/source/yahoo"
)

func fleetctlJSON(t *testing.T, e *env, args ...string) []dlq.Record {
	t.Helper()
	code, out, errOut := e.runCmd(t, nil, "fleetctl", append(args, "--json")...)
	if code != 0 {
		t.Fatalf("fleetctl %v: exit %d: %s", args, code, errOut)
	}
	var recs []dlq.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("fleetctl %v --json: %v\n%s", args, err, out)
	}
	return recs
}

// TestPoisonInputIsDeadLetteredAfterOneDelivery: every poison task lands
// in the dead-letter stream with its reason after exactly one delivery, the
// valid tasks of the same batch are applied, and nothing else changes.
func TestPoisonInputIsDeadLetteredAfterOneDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	if code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--from", "2024-01-01", "--to", "2024-01-31", "AAPL", "MSFT"); code != 0 {
		t.Fatalf("producer: %d %s %s", code, out, errOut)
	}
	valid := `{"v":1,"kind":"collect","symbol":%q,"interval":"1d","from":"2024-01-01T00:00:00Z","to":"2024-01-31T00:00:00Z","requested_by":"poison","requested_at":"2024-01-01T00:00:00Z"}`
	poison := map[string]string{
		"invalid json":    `{"v":1,"kind":`,
		"unknown version": strings.Replace(fmt.Sprintf(valid, "IBM"), `"v":1`, `"v":5`, 1),
		"oversized":       fmt.Sprintf(valid, "IBM")[:50] + strings.Repeat(" ", 5000) + fmt.Sprintf(valid, "IBM")[50:],
		"sql in symbol":   fmt.Sprintf(valid, "'; DROP TABLE bars;--"),
		"unicode symbol":  fmt.Sprintf(valid, "ÄPPL"),
		"200-char symbol": fmt.Sprintf(valid, strings.Repeat("A", 200)),
		"empty symbol":    fmt.Sprintf(valid, ""),
	}
	for name, body := range poison {
		if _, err := js.Publish(context.Background(), queue.SubjectPrefix+".collect", []byte(body)); err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "poison-1")
	waitDrained(t, js, 60*time.Second)
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	recs := fleetctlJSON(t, e, "dlq", "list")
	if len(recs) != len(poison) {
		t.Fatalf("%d dead letters, want %d: %+v", len(recs), len(poison), recs)
	}
	payloads := map[string]bool{}
	for _, r := range recs {
		payloads[string(r.Payload)] = true
		if r.Class != outcome.Invalid || r.Delivered != 1 || r.Worker != "poison-1" || !strings.Contains(r.Reason, "invalid task") {
			t.Errorf("dead letter %d: class %s, delivered %d, worker %s, reason %q", r.Seq, r.Class, r.Delivered, r.Worker, r.Reason)
		}
	}
	for name, body := range poison {
		if !payloads[body] {
			t.Errorf("the %s task is not in the dead-letter stream byte for byte", name)
		}
	}
	jan1, jan31 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)
	e.check(t, []spec{{"AAPL", jan1, jan31}, {"MSFT", jan1, jan31}}, nil, stopSampling(), 1, withPoison(len(poison)))

	// The operator's view and actions.
	code, out, _ := e.runCmd(t, nil, "fleetctl", "dlq", "list", "--class", "invalid")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d dead letter(s)", len(poison))) || strings.Contains(out, "ÄPPL") {
		t.Errorf("fleetctl dlq list: exit %d\n%s", code, out)
	}
	code, out, _ = e.runCmd(t, nil, "fleetctl", "dlq", "show", fmt.Sprint(recs[0].Seq))
	if code != 0 || !strings.Contains(out, "class      invalid") || !strings.Contains(out, "payload") {
		t.Errorf("fleetctl dlq show: exit %d\n%s", code, out)
	}
	code, out, _ = e.runCmd(t, nil, "fleetctl", "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(out, "replayed 0 dead letter(s)") {
		t.Errorf("replay --all of invalid envelopes without --force: exit %d\n%s", code, out)
	}
	code, out, _ = e.runCmd(t, nil, "fleetctl", "dlq", "purge", "--all", "--class", "invalid")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("purged %d", len(poison))) {
		t.Errorf("purge: exit %d\n%s", code, out)
	}
	if left := fleetctlJSON(t, e, "dlq", "list"); len(left) != 0 {
		t.Errorf("%d dead letters left after purge", len(left))
	}
}

// fakeYahoo serves the chart API with a behaviour per symbol.
type fakeYahoo struct {
	mu    sync.Mutex
	calls map[string]int
	body  []byte
}

func (f *fakeYahoo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sym := strings.TrimPrefix(r.URL.Path, "/v8/finance/chart/")
	f.mu.Lock()
	f.calls[sym]++
	n := f.calls[sym]
	f.mu.Unlock()
	switch {
	case sym == "RATE" && n == 1:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case sym == "FAIL":
		w.WriteHeader(http.StatusInternalServerError)
	case sym == "SLOWX":
		time.Sleep(700 * time.Millisecond) // beyond FLEET_HTTP_TIMEOUT
		_, _ = w.Write(f.body)
	case sym == "GONE":
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}`))
	default:
		_, _ = w.Write(f.body)
	}
}

// startFakeYahoo serves a fake Yahoo with a recorded daily response for
// the test's lifetime and returns it, its URL and the response body.
func startFakeYahoo(t *testing.T) (*fakeYahoo, string, []byte) {
	t.Helper()
	body, err := os.ReadFile("../source/yahoo/testdata/daily_EURUSDX_fx.json")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeYahoo{calls: map[string]int{}, body: body}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL, body
}

func (f *fakeYahoo) count(sym string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[sym]
}

// TestSourceFaultsAreRetriedThenDeadLettered drives the yahoo source
// against a fake Yahoo: 429 with Retry-After and plain successes are
// applied; 500s and timeouts are retried up to MaxDeliver and then
// dead-lettered with the last error; a chart error body is dead-lettered at
// once.
func TestSourceFaultsAreRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	fake, yahooURL, body := startFakeYahoo(t)
	e := newEnv(t)
	js := e.js(t)
	specs := e.enqueue(t, "2020-01-01", "2020-01-04", "OK", "RATE", "FAIL", "SLOWX", "GONE")
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "faults-1", "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+yahooURL, "FLEET_MAX_DELIVER=3",
		"FLEET_RETRY_BASE=50ms", "FLEET_RETRY_MAX=200ms", "FLEET_HTTP_TIMEOUT=300ms")
	waitDrained(t, js, 90*time.Second)
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	for sym, want := range map[string]int{"OK": 3, "RATE": 3} {
		var n int
		if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = $1`, sym).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d bars (%v), want %d", sym, n, err, want)
		}
	}
	if n := fake.count("RATE"); n != 2 {
		t.Errorf("RATE requested %d times, want 2 (429, then success)", n)
	}
	recs := fleetctlJSON(t, e, "dlq", "list")
	got := map[string]dlq.Record{}
	for _, r := range recs {
		got[r.Symbol] = r
	}
	if len(recs) != 3 {
		t.Fatalf("dead letters %+v, want FAIL, SLOWX and GONE", recs)
	}
	if r := got["FAIL"]; r.Class != outcome.Exhausted || r.Delivered != 3 || !strings.Contains(r.Reason, "500") {
		t.Errorf("FAIL dead letter = %+v, want exhausted after 3 deliveries with HTTP 500", r)
	}
	if r := got["SLOWX"]; r.Class != outcome.Exhausted || r.Delivered != 3 || !strings.Contains(strings.ToLower(r.Reason), "timeout") {
		t.Errorf("SLOWX dead letter = %+v, want exhausted with a timeout", r)
	}
	if r := got["GONE"]; r.Class != outcome.NotFound || r.Delivered != 1 {
		t.Errorf("GONE dead letter = %+v, want not_found after one delivery", r)
	}
	// 3 worker deliveries x 3 in-client attempts for each failing symbol.
	if n := fake.count("FAIL"); n != 9 {
		t.Errorf("FAIL requested %d times, want 9", n)
	}
	// What the fake served, through the real client, is what must be stored.
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer parse.Close()
	client, err := yahoo.New(yahoo.Config{BaseURL: parse.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.check(t, specs, []string{"FAIL", "SLOWX", "GONE"}, stopSampling(), 1,
		withBars(func(ctx context.Context, s spec) ([]market.Bar, error) {
			return source.Bars(ctx, client, source.Request{Symbol: s.symbol, Interval: market.Interval1d, From: s.from, To: s.to})
		}))
}
