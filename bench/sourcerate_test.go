package main

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// rateOf: the peak is the most arrivals in any 1 s window (not in fixed
// seconds), the sustained rate leaves out the ends.
func TestRateOfCountsTheBusiestSecondAndTheSteadyRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	// A burst of 10 at 0.5 s..0.59 s, then 10/s for 20 s from 1 s on.
	for i := range 10 {
		times = append(times, t0.Add(500*time.Millisecond+time.Duration(i)*10*time.Millisecond))
	}
	for i := range 200 {
		times = append(times, t0.Add(time.Second+time.Duration(i)*100*time.Millisecond))
	}
	sustained, overall, peak := rateOf(times)
	// Window [0.5 s, 1.5 s): the 10 of the burst and 5 of the steady run.
	if peak != 15 {
		t.Errorf("peak = %d, want 15 (fixed 1 s buckets would say 10)", peak)
	}
	if sustained < 9.9 || sustained > 10.1 {
		t.Errorf("sustained = %.2f/s, want 10/s (the burst left out)", sustained)
	}
	if overall <= 10 {
		t.Errorf("overall = %.2f/s, want above 10/s (the burst counted)", overall)
	}
	if s, o, p := rateOf(nil); s != 0 || o != 0 || p != 0 {
		t.Errorf("rateOf(nil) = %v, %v, %v; want zeros", s, o, p)
	}
}

// The fake Yahoo answers the recorded response after its latency and
// records every request.
func TestFakeYahooAnswersLateAndCounts(t *testing.T) {
	y, url, stop, err := startFakeYahoo("../"+fakeYahooFixture, 50*time.Millisecond, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for range 3 {
		start := time.Now()
		resp, err := http.Get(url + "/v8/finance/chart/AAPL")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if took := time.Since(start); took < 40*time.Millisecond {
			t.Errorf("answered after %s, want at least 40ms", took)
		}
		if resp.StatusCode != 200 || len(body) != len(y.body) {
			t.Errorf("status %d, %d bytes; want 200 and the fixture's %d", resp.StatusCode, len(body), len(y.body))
		}
	}
	if got := y.take(); len(got) != 3 {
		t.Errorf("%d requests recorded, want 3", len(got))
	}
	if got := y.take(); len(got) != 0 {
		t.Errorf("take did not forget: %d", len(got))
	}
}
