package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/yahoo"
)

// wavingYahoo serves one recorded chart response, except during its wave,
// when it answers every request with HTTP 429 (as Yahoo does, without
// Retry-After); it records when each request arrived.
type wavingYahoo struct {
	body []byte
	mu   sync.Mutex
	from time.Time // the wave, [from, to); zero: none yet
	to   time.Time
	seen []time.Time
}

func (y *wavingYahoo) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	y.mu.Lock()
	y.seen = append(y.seen, now)
	wave := !y.from.IsZero() && !now.Before(y.from) && now.Before(y.to)
	y.mu.Unlock()
	if wave {
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	_, _ = w.Write(y.body)
}

func (y *wavingYahoo) startWave(d time.Duration) (from, to time.Time) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.from = time.Now()
	y.to = y.from.Add(d)
	return y.from, y.to
}

func (y *wavingYahoo) requests() int {
	y.mu.Lock()
	defer y.mu.Unlock()
	return len(y.seen)
}

func (y *wavingYahoo) times() []time.Time {
	y.mu.Lock()
	defer y.mu.Unlock()
	out := slices.Clone(y.seen)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// inWindow counts the times in [from, from+d).
func inWindow(times []time.Time, from time.Time, d time.Duration) int {
	n := 0
	for _, t := range times {
		if !t.Before(from) && t.Before(from.Add(d)) {
			n++
		}
	}
	return n
}

// busiestSecond is the most of times (sorted) in any window of 1 s.
func busiestSecond(times []time.Time) int {
	peak := 0
	for i := range times {
		peak = max(peak, inWindow(times, times[i], time.Second))
	}
	return peak
}

// TestFleetSlowsDownForAWaveOf429s: three workers share FLEET_SOURCE_RATE=10
// (burst 10) against a fake Yahoo that answers 429 to everything for 60 s.
// The fleet's request rate, counted by the source, falls below half within
// 5 s of the wave's start and stays there; the breaker opens (status and
// logs say so) and probes after its cool-down; after the wave the rate
// recovers, every task completes, none is dead-lettered, and no 1 s window
// ever sees more than rate + burst requests.
//
// The timeline with FLEET_SOURCE_BREAK_AFTER=20s and FLEET_SOURCE_COOLDOWN=15s:
// cuts to 5, 2.5, ... 0.5/s within seconds; the breaker opens at about 20 s,
// probes at 35 s (429: open again for 30 s), probes at about 65 s, after
// the wave: closed, and the rate climbs back from 0.5/s by 1/s every 5 s.
func TestFleetSlowsDownForAWaveOf429s(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../source/yahoo/testdata/daily_EURUSDX_fx.json")
	if err != nil {
		t.Fatal(err)
	}
	fake := &wavingYahoo{body: body}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newEnv(t)
	js := e.js(t)
	const n, rate, burst, wave = 400, 10, 10, 60 * time.Second
	specs := e.enqueue(t, "2020-01-01", "2020-01-04", symbols("W", n)...)
	stopSampling := e.sessionSampler(t)
	var ws []*worker
	for _, id := range []string{"wave-1", "wave-2", "wave-3"} {
		ws = append(ws, e.startWorker(t, id, "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+srv.URL,
			"FLEET_SOURCE_RATE=10", "FLEET_SOURCE_BREAK_AFTER=20s", "FLEET_SOURCE_COOLDOWN=15s",
			"FLEET_RETRY_BASE=1s", "FLEET_RETRY_MAX=15s", "FLEET_FEATURES=false", "FLEET_AUDIT_EVERY=-1s"))
	}
	testenv.Eventually(t, 30*time.Second, "40 requests before the wave", func() bool { return fake.requests() >= 40 })
	from, to := fake.startWave(wave)
	// Status says the source is paused while the breaker is open.
	var st struct {
		Source []struct {
			Key         string     `json:"key"`
			Current     float64    `json:"current_rate"`
			Reason      string     `json:"reason"`
			PausedUntil *time.Time `json:"paused_until"`
		} `json:"source"`
	}
	testenv.Eventually(t, 45*time.Second, "status to show the breaker open", func() bool {
		_, out, _ := e.runCmd(t, nil, "fleetctl", "status", "--json")
		return json.Unmarshal([]byte(out), &st) == nil && len(st.Source) == 1 && st.Source[0].PausedUntil != nil
	})
	if s := st.Source[0]; s.Key != "source.yahoo" || s.Current > rate/2 || !strings.Contains(s.Reason, "429") {
		t.Errorf("status while paused: %+v; want source.yahoo under half its rate because of HTTP 429", s)
	}
	waitDrained(t, js, wave+4*time.Minute)
	for _, w := range ws {
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
	}
	times := fake.times()
	peak := busiestSecond(times)
	var during []int
	for s := from.Add(5 * time.Second); !s.After(to.Add(-time.Second)); s = s.Add(500 * time.Millisecond) {
		during = append(during, inWindow(times, s, time.Second))
	}
	recovered := 0
	for s := to; s.Before(times[len(times)-1]); s = s.Add(time.Second) {
		recovered = max(recovered, inWindow(times, s, 5*time.Second))
	}
	t.Logf("%d requests; in the wave: %d (busiest second from 5 s on: %d); busiest second overall %d; best 5 s after the wave %d",
		len(times), inWindow(times, from, wave), slices.Max(during), peak, recovered)
	if peak > rate+burst+1 {
		t.Errorf("%d requests in one second, over the fleet-wide %d + burst %d", peak, rate, burst)
	}
	if m := slices.Max(during); m >= rate/2 {
		t.Errorf("%d requests in one second of the wave (from 5 s on); want under half the rate (%d)", m, rate/2)
	}
	if recovered < 5*rate/2 {
		t.Errorf("at best %d requests in 5 s after the wave; want the rate back above half (%d)", recovered, 5*rate/2)
	}
	logs := ""
	for _, w := range ws {
		logs += w.logs.String()
	}
	for _, want := range []string{"the fleet's rate is halved", "breaker open", "breaker closed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no worker logged %q", want)
		}
	}
	if recs := fleetctlJSON(t, e, "dlq", "list"); len(recs) != 0 {
		t.Fatalf("%d tasks dead-lettered by the wave, e.g. %+v", len(recs), recs[0])
	}
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(parse.Close)
	client, err := yahoo.New(yahoo.Config{BaseURL: parse.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.check(t, specs, nil, stopSampling(), 3, withBars(func(ctx context.Context, s spec) ([]market.Bar, error) {
		return source.Bars(ctx, client, source.Request{Symbol: s.symbol, Interval: market.Interval1d, From: s.from, To: s.to})
	}))
}
