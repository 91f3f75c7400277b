package ratelimit

import "time"

// state is the value stored under a limiter's key.
type state struct {
	// TAT is the theoretical arrival time: when the bucket is full again.
	TAT time.Time `json:"tat"`
	// Rate and Burst are the writer's configuration, to detect workers
	// that disagree.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// By is the writer's Config.Name, At the writer's clock when it
	// computed this value: compared with the server's timestamp of the
	// write they reveal a writer's clock skew.
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Factor is the share of Rate in force when the source last pushed
	// back, at Cut, and Reason what it said (see Penalize); zero: never.
	Factor float64   `json:"factor,omitempty"`
	Cut    time.Time `json:"cut,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Failing is when the source's current run of failures began (zero:
	// its last answer was a success), Open the end of the breaker's
	// cool-down (zero or past: closed), Opens how many times the breaker
	// opened in this run (each cool-down doubles). See breaker.go.
	Failing time.Time `json:"failing,omitzero"`
	Open    time.Time `json:"open,omitzero"`
	Opens   int       `json:"opens,omitempty"`
	// LastFail is the latest failure recorded (to within a second): a run
	// with no failure for BreakAfter, and no opening yet, is over.
	LastFail time.Time `json:"last_fail,omitzero"`
}

// schedule reserves n consecutive requests at time now against a bucket
// whose theoretical arrival time is tat (zero for a full bucket). It
// returns the time each request may go, in order, and the new TAT.
// interval is T = 1/rate, tolerance is τ = (burst-1)·T.
func schedule(tat, now time.Time, n int, interval, tolerance time.Duration) ([]time.Time, time.Time) {
	grants := make([]time.Time, n)
	for i := range grants {
		g := tat.Add(-tolerance)
		if g.Before(now) {
			g = now
		}
		grants[i] = g
		if tat.Before(now) {
			tat = now
		}
		tat = tat.Add(interval)
	}
	return grants, tat
}

// lateness is how long after its scheduled time a grant may still be
// handed out: max(T, 50ms, 2·rtt), where rtt is the limiter's smoothed KV
// round trip (read and write). Later grants are dropped, so that a sudden
// NATS stall cannot hand out grants in a bunch; a latency that persists
// raises rtt, so that slow links still get grants.
func lateness(interval, rtt time.Duration) time.Duration {
	return max(interval, 50*time.Millisecond, 2*rtt)
}

// smooth folds the round trip sample into the moving average avg
// (weight 1/8, the first sample taken as is).
func smooth(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/8
}
