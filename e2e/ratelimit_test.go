package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/yahoo"
)

// TestSourceRateIsFleetWide: three workers share FLEET_SOURCE_RATE=10
// (burst 10) through NATS KV: the fake provider never sees more than
// rate + burst requests in any second, and the sustained rate is the
// fleet's, not each worker's.
func TestSourceRateIsFleetWide(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../source/yahoo/testdata/daily_EURUSDX_fx.json")
	if err != nil {
		t.Fatal(err)
	}
	fake := &wavingYahoo{body: body} // no wave: every answer is the body
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e := newEnv(t)
	js := e.js(t)
	const n, rate, burst = 60, 10, 10
	specs := e.enqueue(t, "2020-01-01", "2020-01-04", symbols("Q", n)...)
	stopSampling := e.sessionSampler(t)
	var ws []*worker
	for _, id := range []string{"rate-1", "rate-2", "rate-3"} {
		ws = append(ws, e.startWorker(t, id, "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+srv.URL,
			"FLEET_SOURCE_RATE=10", "FLEET_FEATURES=false"))
	}
	waitDrained(t, js, 60*time.Second)
	for _, w := range ws {
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
	}
	times := fake.times()
	if len(times) != n {
		t.Fatalf("%d requests, want %d", len(times), n)
	}
	peak := busiestSecond(times)
	span := times[len(times)-1].Sub(times[0])
	sustained := float64(n-burst) / span.Seconds()
	t.Logf("%d requests from 3 workers in %s: busiest second %d (limit %d + burst %d), sustained %.1f/s",
		n, span.Round(time.Millisecond), peak, rate, burst, sustained)
	if peak > rate+burst+1 {
		t.Fatalf("%d requests in one second, over the fleet-wide %d + burst %d", peak, rate, burst)
	}
	if sustained > rate*1.1 {
		t.Fatalf("sustained %.1f requests/s, over the fleet-wide %d/s", sustained, rate)
	}
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer parse.Close()
	client, err := yahoo.New(yahoo.Config{BaseURL: parse.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.check(t, specs, nil, stopSampling(), 3, withBars(func(ctx context.Context, s spec) ([]market.Bar, error) {
		return source.Bars(ctx, client, source.Request{Symbol: s.symbol, Interval: market.Interval1d, From: s.from, To: s.to})
	}))
}
