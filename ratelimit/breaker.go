package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"marketfleet/outcome"
)

// Circuit breaker. The source's failures (Penalize: HTTP 429 and 503;
// Failed: other 5xx, network errors) and successes (Served) are told to
// the limiter. A run of failures with no success in between that lasts
// Config.BreakAfter opens the breaker (a run with no failure for about
// BreakAfter before its first opening is over: a lone failure after a
// quiet spell starts a new one): for a cool-down (Config.Cooldown,
// doubling with each opening of the same run, up to MaxCooldown) no
// request is booked, and Wait defers every caller to the end of it. The
// cool-down ends with an empty bucket at the floor rate, so the first
// requests after it are probes spaced at the slowest rate, not a burst: a
// probe that fails opens the breaker again at once (the run is still on),
// one that succeeds ends the run, and the rate recovers additively from
// the floor. Like the rate, the breaker lives in the key's state, shared
// by the fleet and kept across restarts.

// seen is the state a Limiter last read, and when.
type seen struct {
	st state
	at time.Time
}

// admitFresh is how old the last read state may be for Admit to use it
// instead of reading again.
const admitFresh = 250 * time.Millisecond

// deferral is reserveKV's outcome for a request that may not go within
// MaxWait: until is when it could, why says what holds it back.
type deferral struct {
	until time.Time
	why   string
}

func (d *deferral) Error() string { return d.why }

// quiet is how long a run of failures must see none to be over: at least
// BreakAfter and two requests at the floor rate (a slow fleet's failures
// are that far apart), plus the cool-down when the breaker opened in the
// run (no request goes then), plus the second LastFail is kept to.
func (l *Limiter) quiet(opens int) time.Duration {
	q := max(l.cfg.BreakAfter, 2*time.Duration(float64(l.interval)/minFactor)) + penaltyDebounce
	if opens > 0 {
		q += l.cooldown(opens)
	}
	return q
}

// cooldown is the length of the opens-th opening of a run.
func (l *Limiter) cooldown(opens int) time.Duration {
	d := l.cfg.Cooldown
	for i := 1; i < opens && d < MaxCooldown; i++ {
		d *= 2
	}
	return min(d, MaxCooldown)
}

// failure records a failure of the source: cut halves the rate (at most
// once per penaltyDebounce), and a run of failures older than BreakAfter
// opens the breaker. It writes only when the state changes, and reports
// whether the rate was cut.
func (l *Limiter) failure(ctx context.Context, reason string, cut bool) (bool, error) {
	if l.kv == nil {
		return false, nil
	}
	for range 5 { // conflicts: another worker wrote meanwhile
		cur, rev, err := l.read(ctx)
		if err != nil {
			return false, err
		}
		now := time.Now()
		if cur.Open.After(now) {
			return false, nil // paused already: this is a request booked before
		}
		next, changed, opened, didCut := cur, false, false, false
		// A cut lowers the rate in force, at most once per penaltyDebounce;
		// at the floor there is nothing to cut (and Cut must not move: the
		// grants booked since the last cut stand).
		if f := factorAt(cur, now); cut && (cur.Cut.IsZero() || now.Sub(cur.Cut) >= penaltyDebounce) && f > minFactor*1.5 {
			next.Factor, next.Cut, next.Reason, changed, didCut = max(minFactor, f/2), now.UTC(), reason, true, true
		}
		// A run with no failure for a quiet spell is over: the fleet was
		// idle, and a lone failure after it is not sustained.
		over := now.Sub(cur.LastFail) >= l.quiet(cur.Opens)
		if now.Sub(cur.LastFail) >= penaltyDebounce {
			next.LastFail, changed = now.UTC(), true
		}
		switch {
		case cur.Failing.IsZero() || over:
			next.Failing, next.Opens, next.Reason, changed = now.UTC(), 0, reason, true
		case now.Sub(cur.Failing) >= l.cfg.BreakAfter:
			next.Opens++
			next.Open = now.Add(l.cooldown(next.Opens)).UTC()
			// Closed again, the bucket is empty and the rate at its floor
			// (with a burst of Burst/20): the first requests are probes,
			// one slow interval apart.
			next.Factor, next.Cut, next.Reason, next.TAT = minFactor, next.Open, reason, next.Open
			changed, opened = true, true
		}
		if !changed {
			return false, nil
		}
		next.Rate, next.Burst, next.By, next.At = l.cfg.Rate, l.cfg.Burst, l.cfg.Name, now.UTC()
		err = l.write(ctx, rev, next)
		switch {
		case err == nil:
			l.logFailure(cur, next, opened, didCut)
			return didCut || opened, nil
		case !errors.Is(err, errConflict):
			return false, err
		}
	}
	return false, fmt.Errorf("rate limit %s: record a failure: %w", l.cfg.Key, errConflict)
}

func (l *Limiter) logFailure(cur, next state, opened, cut bool) {
	switch {
	case opened:
		l.log.Error().Str("reason", next.Reason).Time("failing_since", next.Failing).Time("until", next.Open).
			Stringer("cooldown", next.Open.Sub(next.At).Round(time.Second)).Int("opens", next.Opens).
			Msg("the source keeps failing: the fleet stops asking it until the cool-down ends (breaker open)")
	case cut && l.warnCut.allow(10*time.Second):
		l.log.Warn().Str("reason", next.Reason).Float64("rate", l.cfg.Rate*next.Factor).Float64("configured", l.cfg.Rate).
			Msg("fleet rate limiter: the source pushed back; the fleet's rate is halved")
	case !cur.Failing.Equal(next.Failing):
		l.log.Warn().Str("reason", next.Reason).Stringer("break_after", l.cfg.BreakAfter).
			Msg("the source is failing; the breaker opens if it fails with no success for break_after")
	}
}

// Penalize tells the fleet that the source pushed back (reason, e.g.
// "HTTP 429"): unless another worker did within the last second, the
// fleet's rate is halved (down to 1/20 of the configured one), and the
// failure counts towards the breaker. It reports whether it cut the rate.
// With Rate 0 it does nothing.
func (l *Limiter) Penalize(ctx context.Context, reason string) (bool, error) {
	return l.failure(ctx, reason, true)
}

// Failed tells the fleet that the source failed without asking it to slow
// down (reason, e.g. "HTTP 500" or a network error): it counts towards the
// breaker only. With Rate 0 it does nothing.
func (l *Limiter) Failed(ctx context.Context, reason string) error {
	_, err := l.failure(ctx, reason, false)
	return err
}

// Served tells the fleet that the source answered: a run of failures ends
// (the breaker's count starts again). It writes only when the state last
// read shows a run, so a healthy source costs nothing. With Rate 0 it does
// nothing.
func (l *Limiter) Served(ctx context.Context) error {
	if l.kv == nil {
		return nil
	}
	if s := l.seen.Load(); s != nil && s.st.Failing.IsZero() && s.st.Opens == 0 {
		return nil
	}
	for range 5 {
		cur, rev, err := l.read(ctx)
		if err != nil || (cur.Failing.IsZero() && cur.Opens == 0) || cur.Open.After(time.Now()) {
			return err // nothing to end, or an answer to a request booked before the breaker opened
		}
		next := cur
		next.Failing, next.Opens, next.Open, next.LastFail = time.Time{}, 0, time.Time{}, time.Time{}
		next.By, next.At = l.cfg.Name, time.Now().UTC()
		err = l.write(ctx, rev, next)
		switch {
		case err == nil:
			if cur.Opens > 0 {
				l.log.Info().Int("opens", cur.Opens).Time("failing_since", cur.Failing).
					Msg("the source answers again: breaker closed; the rate recovers from its floor")
			}
			return nil
		case !errors.Is(err, errConflict):
			return err
		}
	}
	return fmt.Errorf("rate limit %s: record a success: %w", l.cfg.Key, errConflict)
}

// Admit says whether a worker should take more tasks that fetch from the
// source now: hold > 0 while the breaker is open or the fleet's requests
// are booked more than MaxWait/2 ahead (take none for that long), and
// otherwise room, about how many requests the fleet could still send
// within MaxWait (at least 1). It reads the key at most every 250 ms. On a
// NATS error it admits 1 (the tasks' own waits decide). With Rate 0 it
// always admits.
func (l *Limiter) Admit(ctx context.Context) (hold time.Duration, room int, err error) {
	if l.kv == nil {
		return 0, MaxAdmit, nil
	}
	var st state
	if s := l.seen.Load(); s != nil && time.Since(s.at) <= admitFresh {
		st = s.st
	} else if st, _, err = l.read(ctx); err != nil {
		return 0, 1, err
	}
	now := time.Now()
	if st.Open.After(now) {
		return st.Open.Sub(now), 0, nil
	}
	interval, tolerance := l.scaled(factorAt(st, now))
	backlog := max(0, st.TAT.Add(-tolerance).Sub(now))
	if backlog > l.cfg.MaxWait/2 {
		return max(backlog-l.cfg.MaxWait/2, 50*time.Millisecond), 0, nil
	}
	return 0, min(MaxAdmit, 1+int((l.cfg.MaxWait-backlog)/interval)), nil
}

// MaxAdmit is the room Admit reports when nothing limits it.
const MaxAdmit = 1 << 20

// deferred turns a deferral into the error Wait returns: it asks for the
// delay until the request could go, plus up to a half of it again, so
// that the deferred tasks do not all come back at once.
func (l *Limiter) deferred(d *deferral) error {
	wait := max(time.Until(d.until), 0)
	wait += rand.N(wait/2 + 1)
	return outcome.Mark(outcome.Deferred, outcome.RetryAfter(wait, fmt.Errorf("rate limit %s: %w: %s", l.cfg.Key, ErrDeferred, d.why)))
}
