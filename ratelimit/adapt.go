package ratelimit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Adaptive rate (AIMD). When the source pushes back (HTTP 429 or 503), a
// worker calls Penalize: the fleet's rate is halved for everyone, at most
// once per penaltyDebounce however many workers saw the same wave, and
// never below minFactor of the configured rate. It then recovers
// additively, by recoverStep of the configured rate every recoverPeriod
// without a new penalty. Both live in the key's state (Factor, Cut), so
// every worker and every restart shares them, and recovery needs no writes:
// the factor in force at t is min(1, Factor + recoverStep·(t-Cut)/recoverPeriod).
const (
	penaltyDebounce = time.Second
	minFactor       = 1.0 / 20
	recoverStep     = 0.1
	recoverPeriod   = 5 * time.Second
)

// factorAt is the share of the configured rate in force at now under st.
func factorAt(st state, now time.Time) float64 {
	if st.Factor <= 0 || st.Cut.IsZero() { // never penalized (or before this field existed)
		return 1
	}
	f := st.Factor + recoverStep*float64(now.Sub(st.Cut))/float64(recoverPeriod)
	return min(1, max(minFactor, f))
}

// scaled returns the emission interval and tolerance at factor f of the
// configured rate: a slower rate spaces grants further apart and scales
// the burst down with it (Burst·f requests rounded down, at least 1), so that a source
// that pushed back never gets the full burst at once, and the breaker's
// probes after a cool-down (at the floor rate) come one at a time.
func (l *Limiter) scaled(f float64) (interval, tolerance time.Duration) {
	interval = time.Duration(float64(l.interval) / f)
	burst := max(1, int(math.Floor(float64(l.cfg.Burst)*f+1e-9)))
	return interval, time.Duration(burst-1) * interval
}

// Current is the rate in force for the fleet, the configured one, and why
// they differ; and the breaker's state.
type Current struct {
	Rate, Configured float64
	// Reason is what the source last said when it failed ("" when the
	// rate is the configured one and the source is not failing), Since
	// when the rate was last cut.
	Reason string
	Since  time.Time
	// Failing is when the source's current run of failures began (zero:
	// its last answer was a success); Open the end of the breaker's
	// cool-down while it is open (zero otherwise); Opens the openings in
	// this run.
	Failing, Open time.Time
	Opens         int
}

// Paused reports whether the breaker is open.
func (c Current) Paused() bool { return !c.Open.IsZero() }

// current describes st at now for a limiter configured at rate.
func current(st state, rate float64, now time.Time) Current {
	c := Current{Rate: rate, Configured: rate, Failing: st.Failing, Opens: st.Opens}
	if f := factorAt(st, now); f < 1 {
		c.Rate, c.Reason = rate*f, st.Reason
		if !st.Cut.After(now) { // while the breaker is open, Cut is its end
			c.Since = st.Cut
		}
	}
	if !st.Failing.IsZero() {
		c.Reason = st.Reason
	}
	if st.Open.After(now) {
		c.Open = st.Open
	}
	return c
}

// Current reads the rate in force now.
func (l *Limiter) Current(ctx context.Context) (Current, error) {
	if l.kv == nil {
		return Current{Rate: l.cfg.Rate, Configured: l.cfg.Rate}, nil
	}
	st, _, err := l.read(ctx)
	if err != nil {
		return Current{Rate: l.cfg.Rate, Configured: l.cfg.Rate}, err
	}
	return current(st, l.cfg.Rate, time.Now()), nil
}

// Snapshot is Current from the state this limiter last read, without a
// round trip (for metrics): the configured rate when it has read none.
func (l *Limiter) Snapshot() Current {
	var st state
	if s := l.seen.Load(); s != nil {
		st = s.st
	}
	return current(st, l.cfg.Rate, time.Now())
}

// Reading is one limit as found in its bucket: its key, its Current
// (computed with the rate its last writer was configured with), and who
// wrote it last, when.
type Reading struct {
	Key string
	Current
	By string
	At time.Time
}

// Inspect reads every limit in bucket (DefaultBucket when empty) without
// taking part in it, for fleetctl status. A missing bucket holds none.
func Inspect(ctx context.Context, js jetstream.JetStream, bucket string) ([]Reading, error) {
	kv, err := js.KeyValue(ctx, cmp.Or(bucket, DefaultBucket))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	var out []Reading
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("rate limit %s: %w", k, err)
		}
		var st state
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			continue // overwritten by the next reservation
		}
		out = append(out, Reading{Key: k, Current: current(st, st.Rate, time.Now()), By: st.By, At: st.At})
	}
	slices.SortFunc(out, func(a, b Reading) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
