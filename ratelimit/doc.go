// Package ratelimit is a fleet-wide token bucket for requests to an external
// data source: however many workers run, and however many fetches each runs
// at once, the fleet together sends at most Rate requests per second, with
// bursts of at most Burst.
//
// # Algorithm
//
// The bucket is the Generic Cell Rate Algorithm (virtual scheduling). One
// key per limited resource (e.g. "source.yahoo") in a NATS KV bucket
// (DefaultBucket, file storage, history 1) holds the theoretical arrival
// time TAT: the time at which the bucket will be full again. With the
// emission interval T = 1/Rate and the tolerance τ = (Burst-1)·T, a request
// at time now may go at g = max(now, TAT-τ), and it moves TAT to
// max(TAT, now)+T. A missing or deleted key is a full bucket.
//
// Wait reserves before it sleeps: it reads the key, computes g and the new
// TAT, writes the new TAT with a compare-and-set on the revision it read
// (KeyValue.Update; on a revision mismatch it reads again) and then sleeps
// until g. Waiting callers therefore form a queue in the key instead of
// polling it, and each granted request costs one read and one write (plus a
// retry per lost race). The writes are linearised by the stream, so the
// grant times of the whole fleet follow one TAT sequence spaced at least T
// apart: in any window of length W the fleet is granted at most
// Rate·W + Burst requests.
//
// Within one Limiter a semaphore serialises the KV round trips, so
// goroutines of the same worker never race each other; only workers race.
// With Config.Batch > 1 a worker that has several callers waiting reserves
// up to Batch consecutive grants in one write and hands the extra ones to
// the callers queued behind it: fewer round trips, at the price of coarser
// interleaving between workers (a worker gets runs of up to Batch
// consecutive slots). Only callers that are actually waiting are counted,
// so tokens are never hoarded for later.
//
// # Clocks
//
// TAT is a wall-clock time written by whichever worker made the last
// reservation, and every worker compares it with its own clock. The hosts
// are assumed NTP-synchronised. A skew does not change the sustained rate
// (the TAT sequence advances by T per grant whatever the clocks say); it only
// moves individual grants: a worker whose clock is ahead by δ fires its
// grants δ early, so in the worst case the fleet sees up to δ·Rate requests
// beyond Burst in one window, once, and a worker whose clock is behind waits
// longer than it needs to. A clock far ahead makes the others wait for it
// (it writes TATs in their future); the limiter never compensates by
// sending more. Every value records its writer ("by") and the writer's
// clock ("at"); a reader that finds "at" more than a second ahead of the
// server's timestamp of that write logs a warning naming the writer.
// Deleting the key (nats kv del MARKETFLEET_RATE <key>) resets the bucket to
// full.
//
// # Failures
//
// A grant whose write is acknowledged more than max(T, 50ms, twice the
// smoothed KV round trip) after its scheduled time is dropped rather than
// handed out late (late grants would bunch up after a NATS stall), and a
// caller cancelled while it sleeps leaves its reservation unused: both only
// waste capacity, never exceed it (Stats.Wasted). NATS
// errors are retried with exponential backoff and jitter for
// Config.RetryFor, after which Wait returns an error wrapping
// ErrUnavailable; while the connection is down an attempt fails at once
// instead of queueing a request, so an outage costs no busy loop and no
// hung calls.
//
// If the server loses its latest writes (a crash before fsync, see
// sync_interval), the key reverts to an older, smaller TAT: the fleet may
// then send up to the lost reservations once more, as an extra burst.
//
// # Pushback, deferral and the breaker
//
// A source that answers "too many requests" (HTTP 429, or 503) wants the
// fleet slower, not each worker's retries. Penalize halves the rate in
// force for the whole fleet (the factor and the time of the cut live in the
// key's state beside TAT), at most once a second however many workers saw
// the same wave, never below a twentieth of Rate (the burst shrinks in
// proportion, to one request at least); the rate then recovers by
// a tenth of Rate every 5 s without a new cut, computed from the state at
// each reservation (no writes). Current says the rate in force and why.
//
// A request that could only go more than Config.MaxWait from now is not
// booked: Wait returns ErrDeferred at once, marked outcome.RetryAfter with
// the delay, and its task waits in the queue, not in a worker. Admit tells
// a worker, before it pulls, how many requests the fleet could still send
// within MaxWait, or to take none for a while.
//
// Failures of the source (Penalize, Failed) and its answers (Served) drive
// a circuit breaker kept in the same state: see breaker.go. The yahoo
// client reports every attempt (yahoo.Config.Feedback); a worker gives it
// its limiter, and gives the limiter to its runner as the gate.
//
// With Rate 0 the limiter is off: Wait returns at once and touches no KV.
//
// Every worker must use the same Rate and Burst for a key; a reader that
// finds different values in the key logs a warning.
package ratelimit
