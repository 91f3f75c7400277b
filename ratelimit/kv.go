package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// skewWarning is how far ahead of the server's timestamp a writer's clock
// may be before readers warn about it.
const skewWarning = time.Second

// reserveKV makes one reservation of n grants: read the key, schedule,
// compare-and-set. It returns the grants that are not yet overdue when the
// write is acknowledged (errLate if none), errConflict when another limiter
// wrote first, errBeyondDeadline (writing nothing) when the first grant
// would come after ctx's deadline, or the NATS error. Each KV operation is
// bounded by opTimeout.
func (l *Limiter) reserveKV(ctx context.Context, n int, opTimeout time.Duration) ([]time.Time, error) {
	if nc := l.js.Conn(); nc != nil && !nc.IsConnected() {
		// A request now would sit in the reconnect buffer until it
		// times out: fail at once and let the backoff pace the retries.
		l.stats.errors.Add(1)
		return nil, fmt.Errorf("nats connection %s: %w", nc.Status(), nats.ErrDisconnected)
	}
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	sent := time.Now()
	cur, rev, err := l.read(opCtx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if cur.Open.After(now) {
		return nil, &deferral{until: cur.Open, why: "the source is paused (breaker open) after failing since " +
			cur.Failing.Format(time.RFC3339) + ": " + cur.Reason}
	}
	interval, tolerance := l.scaled(factorAt(cur, now))
	grants, tat := schedule(cur.TAT, now, n, interval, tolerance)
	if grants[0].Sub(now) > l.cfg.MaxWait {
		return nil, &deferral{until: grants[0], why: fmt.Sprintf("the fleet's requests are booked %s ahead at %.3g/s",
			grants[0].Sub(now).Round(time.Millisecond), l.cfg.Rate*factorAt(cur, now))}
	}
	if dl, ok := ctx.Deadline(); ok && grants[0].After(dl) {
		return nil, errBeyondDeadline
	}
	next := cur
	next.TAT, next.Rate, next.Burst, next.By, next.At = tat.UTC(), l.cfg.Rate, l.cfg.Burst, l.cfg.Name, now.UTC()
	if err := l.write(opCtx, rev, next); err != nil {
		return nil, err
	}
	acked := time.Now()
	l.rtt = smooth(l.rtt, acked.Sub(sent))
	return l.dropOverdue(grants, acked)
}

// dropOverdue removes the grants that are overdue by more than the
// lateness allowance at acked.
func (l *Limiter) dropOverdue(grants []time.Time, acked time.Time) ([]time.Time, error) {
	late := lateness(l.interval, l.rtt)
	kept := grants[:0]
	for _, g := range grants {
		if acked.Sub(g) > late {
			l.stats.wasted.Add(1)
			continue
		}
		kept = append(kept, g)
	}
	if len(kept) == 0 {
		return nil, errLate
	}
	return kept, nil
}

// read returns the key's state and revision: the zero state and revision 0
// when the key does not exist or was deleted, the zero state and the
// actual revision when the value cannot be decoded (it is overwritten).
func (l *Limiter) read(ctx context.Context) (state, uint64, error) {
	l.stats.reads.Add(1)
	e, err := l.kv.Get(ctx, l.cfg.Key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		l.seen.Store(&seen{at: time.Now()})
		return state{}, 0, nil
	case err != nil:
		l.stats.errors.Add(1)
		return state{}, 0, fmt.Errorf("read %s: %w", l.cfg.Key, err)
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		l.log.Warn().Err(err).Uint64("revision", e.Revision()).Msg("fleet rate limiter: undecodable value; treating the bucket as full")
		l.seen.Store(&seen{at: time.Now()})
		return state{}, e.Revision(), nil
	}
	l.inspect(e, st)
	l.seen.Store(&seen{st: st, at: time.Now()})
	return st, e.Revision(), nil
}

// write stores st with a compare-and-set on rev (a create when rev is 0).
func (l *Limiter) write(ctx context.Context, rev uint64, st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode %s: %w", l.cfg.Key, err)
	}
	if rev == 0 {
		_, err = l.kv.Create(ctx, l.cfg.Key, b)
	} else {
		_, err = l.kv.Update(ctx, l.cfg.Key, b, rev)
	}
	switch {
	case err == nil:
		l.stats.writes.Add(1)
		l.seen.Store(&seen{st: st, at: time.Now()})
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
		l.stats.conflicts.Add(1)
		return fmt.Errorf("write %s at revision %d: %w", l.cfg.Key, rev, errConflict)
	default:
		l.stats.errors.Add(1)
		return fmt.Errorf("write %s at revision %d: %w", l.cfg.Key, rev, err)
	}
}

// inspect warns (at most once a minute each) about a writer whose clock is
// ahead of the server's and about a writer configured differently.
func (l *Limiter) inspect(e jetstream.KeyValueEntry, st state) {
	if ahead := st.At.Sub(e.Created()); !st.At.IsZero() && ahead > skewWarning && l.warnSkew.allow(time.Minute) {
		l.log.Warn().Str("by", st.By).Stringer("ahead", ahead).
			Msg("fleet rate limiter: a worker's clock is ahead of the NATS server's; the fleet waits for it (check NTP on that host)")
	}
	if (st.Rate != l.cfg.Rate || st.Burst != l.cfg.Burst) && l.warnConf.allow(time.Minute) {
		l.log.Warn().Str("by", st.By).Float64("their_rate", st.Rate).Int("their_burst", st.Burst).
			Float64("rate", l.cfg.Rate).Int("burst", l.cfg.Burst).
			Msg("fleet rate limiter: workers disagree on rate or burst for this key")
	}
}
