package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// fakeYahoo is the source of the source mode: it answers every chart
// request with one recorded Yahoo response (source/yahoo/testdata, with
// its provenance there) after a latency drawn uniformly from
// [latency-jitter, latency+jitter], and records when each request
// arrived: the fleet's request rate as the source sees it.
type fakeYahoo struct {
	body            []byte
	latency, jitter time.Duration
	mu              sync.Mutex
	seen            []time.Time
}

// fakeYahooFixture is the recorded response: three daily bars of EURUSD=X
// from 2020-01-01, so a task asks for 2020-01-01 to 2020-01-04.
const fakeYahooFixture = "source/yahoo/testdata/daily_EURUSDX_fx.json"

func (y *fakeYahoo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	y.mu.Lock()
	y.seen = append(y.seen, now)
	y.mu.Unlock()
	d := y.latency
	if y.jitter > 0 {
		d += time.Duration(rand.Int64N(int64(2*y.jitter)+1)) - y.jitter
	}
	select {
	case <-time.After(d):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(y.body)
}

// take returns the arrival times recorded so far, sorted, and forgets them.
func (y *fakeYahoo) take() []time.Time {
	y.mu.Lock()
	defer y.mu.Unlock()
	out := y.seen
	y.seen = nil
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// startFakeYahoo serves a fakeYahoo answering with the recorded response
// in file fixture on 127.0.0.1, and returns its base URL and a stop
// function.
func startFakeYahoo(fixture string, latency, jitter time.Duration) (*fakeYahoo, string, func(), error) {
	body, err := os.ReadFile(fixture)
	if err != nil {
		return nil, "", nil, fmt.Errorf("source mode: %w (run from the repository root)", err)
	}
	y := &fakeYahoo{body: body, latency: latency, jitter: jitter}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: y, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return y, "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// sourceRate is one run of the source mode: the fleet's requests as the
// source counted them.
type sourceRate struct {
	K     int     `json:"k"`
	Rate  float64 `json:"fleet_rate"` // FLEET_SOURCE_RATE
	Burst int     `json:"burst"`      // FLEET_SOURCE_BURST as the worker applies it
	// Requests is every request the source saw; Tasks the run's tasks.
	Requests int `json:"requests"`
	Tasks    int `json:"tasks"`
	// Sustained is requests/s over the run without its first and last
	// sustainSkip (the initial burst and the tail); Overall over the
	// whole span from the first request to the last.
	Sustained float64 `json:"sustained_per_sec"`
	Overall   float64 `json:"overall_per_sec"`
	// Peak1s is the most requests in any window of one second.
	Peak1s       int           `json:"peak_1s"`
	PeakSessions int           `json:"peak_sessions"`
	Wall         time.Duration `json:"wall_ns"`
	Incomplete   int           `json:"tasks_incomplete"`
}

// sustainSkip is what the sustained rate leaves out at each end of a run.
const sustainSkip = 3 * time.Second

// rateOf reduces arrival times (sorted) to the source's view of a run.
func rateOf(times []time.Time) (sustained, overall float64, peak int) {
	if len(times) < 2 {
		return 0, 0, len(times)
	}
	first, last := times[0], times[len(times)-1]
	overall = float64(len(times)-1) / last.Sub(first).Seconds()
	from, to := first.Add(sustainSkip), last.Add(-sustainSkip)
	if to.After(from) {
		n := 0
		for _, t := range times {
			if !t.Before(from) && t.Before(to) {
				n++
			}
		}
		sustained = float64(n) / to.Sub(from).Seconds()
	}
	j := 0
	for i := range times { // two pointers: the window [times[j], times[j]+1s) ending at i
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return sustained, overall, peak
}

// sourceMode runs the fleet against the fake Yahoo at the rate o asks
// for, once per replica count.
func (e *env) sourceMode(ctx context.Context, o options, seq *int) ([]sourceRate, error) {
	y, url, stop, err := startFakeYahoo(fakeYahooFixture, o.sourceLatency, o.sourceJitter)
	if err != nil {
		return nil, err
	}
	defer stop()
	burst := o.sourceBurst
	if burst == 0 {
		burst = int(o.sourceRate + 0.999999) // the worker's default: the rate, rounded up
	}
	var out []sourceRate
	for _, k := range o.sourceK {
		*seq++
		fmt.Fprintf(os.Stderr, "bench: source mode K=%d, rate %.0f/s, latency %s ± %s\n", k, o.sourceRate, o.sourceLatency, o.sourceJitter)
		env := append([]string{"FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL=" + url,
			fmt.Sprintf("FLEET_SOURCE_RATE=%g", o.sourceRate), fmt.Sprintf("FLEET_SOURCE_BURST=%d", burst)}, o.workerEnv...)
		y.take()
		r, err := e.run(ctx, runConfig{design: designMarketfleet, k: k, n: o.sourceN, bars: 3, env: env}, *seq)
		if err != nil {
			return nil, fmt.Errorf("source mode K=%d: %w", k, err)
		}
		times := y.take()
		s := sourceRate{K: k, Rate: o.sourceRate, Burst: burst, Requests: len(times), Tasks: o.sourceN,
			PeakSessions: r.PeakSessions, Wall: r.Wall, Incomplete: r.Tasks - r.Completed}
		s.Sustained, s.Overall, s.Peak1s = rateOf(times)
		out = append(out, s)
	}
	return out, nil
}
