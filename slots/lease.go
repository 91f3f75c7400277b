package slots

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is one held slot. Its renewals run in the background until Release.
// It is safe for concurrent use.
type Lease struct {
	t     *Table
	slot  int
	key   string
	value []byte

	mu         sync.Mutex
	rev        uint64
	validUntil time.Time
	err        error // why the lease ended, once it did

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newLease(t *Table, slot int, value []byte, rev uint64, sent time.Time) *Lease {
	l := &Lease{t: t, slot: slot, key: slotKey(slot), value: value, rev: rev,
		validUntil: sent.Add(t.trust()), lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.renewLoop()
	return l
}

// trust is how long after sending a successful renewal the holder may rely
// on its lease.
func (t *Table) trust() time.Duration { return t.cfg.TTL * 3 / 4 }

// Slot is the index of the held slot.
func (l *Lease) Slot() int { return l.slot }

// Lost is closed when the lease is lost or revoked; Err says which.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns nil while the lease holds, else an error wrapping ErrLost or
// ErrRevoked.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Check returns nil if the lease may be relied on now: it was renewed
// recently enough and has not ended. It is the worker's connect gate.
func (l *Lease) Check(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if time.Now().After(l.validUntil) {
		return fmt.Errorf("%w: slot %d not renewed since %s", ErrLost, l.slot, l.validUntil.Add(-l.t.trust()).Format(time.RFC3339Nano))
	}
	return nil
}

// Revoke ends the lease because a smaller budget no longer covers its slot.
// The caller closes its session, then calls Release.
func (l *Lease) Revoke() { l.end(fmt.Errorf("%w: slot %d", ErrRevoked, l.slot)) }

func (l *Lease) end(err error) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.lost)
	})
}

// Release stops the renewals and frees the slot at once (a delete that only
// applies to this lease's own revision), so a waiting worker can take it
// without waiting for the TTL. Call it after the session is closed. If the
// delete fails the slot frees itself after TTL. Safe to call more than once.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.end(fmt.Errorf("%w: slot %d released", ErrLost, l.slot))
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	if rev == 0 {
		return nil // taken over: not ours to delete
	}
	err := l.t.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("release slot %d: %w", l.slot, err)
	}
	return nil
}

// renewLoop renews the lease every Renew and declares it lost when the key
// was taken over or no renewal succeeded within the trust period.
func (l *Lease) renewLoop() {
	defer close(l.done)
	tick := time.NewTicker(l.t.cfg.Renew)
	defer tick.Stop()
	for {
		l.mu.Lock()
		deadline := time.Until(l.validUntil)
		l.mu.Unlock()
		expire := time.NewTimer(deadline)
		select {
		case <-l.stop:
			expire.Stop()
			return
		case <-l.lost:
			expire.Stop()
			return
		case <-expire.C:
			l.end(fmt.Errorf("%w: slot %d could not be renewed for %s", ErrLost, l.slot, l.t.trust()))
			return
		case <-tick.C:
			expire.Stop()
			if !l.renew() {
				return
			}
		}
	}
}

// renew sends one renewal; it returns false when the lease is over.
func (l *Lease) renew() bool {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), l.t.cfg.Renew)
	defer cancel()
	next, err := l.t.put(ctx, l.key, l.value, l.t.cfg.TTL, &rev)
	if err == nil {
		l.mu.Lock()
		l.rev, l.validUntil = next, sent.Add(l.t.trust())
		l.mu.Unlock()
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		l.mu.Lock()
		l.rev = 0
		l.mu.Unlock()
		l.end(fmt.Errorf("%w: slot %d expired and was taken over (renewal refused)", ErrLost, l.slot))
		return false
	}
	l.t.log.Warn().Int("slot", l.slot).Err(err).Msg("could not renew the connection slot; retrying")
	return true
}
