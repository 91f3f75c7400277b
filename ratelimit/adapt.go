package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
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
// configured rate: a slower rate spaces grants further apart and keeps the
// burst in requests.
func (l *Limiter) scaled(f float64) (interval, tolerance time.Duration) {
	interval = time.Duration(float64(l.interval) / f)
	return interval, time.Duration(l.cfg.Burst-1) * interval
}

// Penalize tells the fleet that the source pushed back (reason, e.g.
// "HTTP 429"): unless another worker did within the last second, the
// fleet's rate is halved (down to 1/20 of the configured one). It reports
// whether it cut the rate. With Rate 0 it does nothing.
func (l *Limiter) Penalize(ctx context.Context, reason string) (bool, error) {
	if l.kv == nil {
		return false, nil
	}
	for range 5 { // conflicts: another worker wrote meanwhile
		cur, rev, err := l.read(ctx)
		if err != nil {
			return false, err
		}
		now := time.Now()
		if !cur.Cut.IsZero() && now.Sub(cur.Cut) < penaltyDebounce {
			return false, nil // this wave was counted already
		}
		next := cur
		next.Factor = max(minFactor, factorAt(cur, now)/2)
		next.Cut, next.Reason = now.UTC(), reason
		next.Rate, next.Burst, next.By, next.At = l.cfg.Rate, l.cfg.Burst, l.cfg.Name, now.UTC()
		err = l.write(ctx, rev, next)
		switch {
		case err == nil:
			l.log.Warn().Str("reason", reason).Float64("rate", l.cfg.Rate*next.Factor).Float64("configured", l.cfg.Rate).
				Msg("fleet rate limiter: the source pushed back; the fleet's rate is halved")
			return true, nil
		case !errors.Is(err, errConflict):
			return false, err
		}
	}
	return false, fmt.Errorf("rate limit %s: penalize: %w", l.cfg.Key, errConflict)
}

// Current is the rate in force for the fleet now, the configured one, and
// why they differ ("" when they do not).
type Current struct {
	Rate, Configured float64
	Reason           string
	Since            time.Time
}

// Current reads the rate in force now.
func (l *Limiter) Current(ctx context.Context) (Current, error) {
	c := Current{Rate: l.cfg.Rate, Configured: l.cfg.Rate}
	if l.kv == nil {
		return c, nil
	}
	st, _, err := l.read(ctx)
	if err != nil {
		return c, err
	}
	if f := factorAt(st, time.Now()); f < 1 {
		c.Rate, c.Reason, c.Since = l.cfg.Rate*f, st.Reason, st.Cut
	}
	return c, nil
}
