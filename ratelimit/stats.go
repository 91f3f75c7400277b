package ratelimit

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Stats counts what a Limiter did since Open.
type Stats struct {
	// Granted is the number of Wait calls that returned nil.
	Granted uint64
	// Reads and Writes are the KV reads and successful compare-and-set
	// writes (one write reserves up to Batch grants).
	Reads, Writes uint64
	// Conflicts is the number of writes lost to another limiter.
	Conflicts uint64
	// Errors is the number of failed KV operations (NATS errors).
	Errors uint64
	// Wasted is the number of reserved grants never handed out: dropped
	// as overdue, or left by a caller whose context ended while it slept.
	Wasted uint64
	// Deferred is the number of Wait calls that returned ErrDeferred.
	Deferred uint64
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Granted:   l.stats.granted.Load(),
		Reads:     l.stats.reads.Load(),
		Writes:    l.stats.writes.Load(),
		Conflicts: l.stats.conflicts.Load(),
		Errors:    l.stats.errors.Load(),
		Wasted:    l.stats.wasted.Load(),
		Deferred:  l.stats.deferred.Load(),
	}
}

type counters struct {
	granted, reads, writes, conflicts, errors, wasted, deferred atomic.Uint64
}

// throttle lets an event through at most once per period.
type throttle struct{ last atomic.Int64 }

func (t *throttle) allow(period time.Duration) bool {
	now := time.Now().UnixNano()
	last := t.last.Load()
	if last != 0 && now-last < int64(period) {
		return false
	}
	return t.last.CompareAndSwap(last, now)
}

// backoff is exponential with jitter: each step returns a pause in
// [d/2, d] and doubles d up to max.
type backoff struct{ next, max time.Duration }

func (b *backoff) step() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d/2 + rand.N(d/2+1)
}

// jitter returns a pause in [0, d], to break the lockstep of limiters that
// keep losing the same races.
func jitter(d time.Duration) time.Duration {
	return rand.N(d + 1)
}
