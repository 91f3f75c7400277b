package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff with "equal jitter": the delay before
// attempt n is uniformly distributed in [d/2, d] where d = min(Max, Base*2^(n-1)).
// The zero value is not useful; use a literal or Default.
type Policy struct {
	// Base is the un-jittered delay before the first retry.
	Base time.Duration
	// Max caps the un-jittered delay.
	Max time.Duration
}

// Default is 250ms doubling up to 30s.
var Default = Policy{Base: 250 * time.Millisecond, Max: 30 * time.Second}

// Ceiling returns the un-jittered delay before attempt n (1-based; n < 1 is
// treated as 1).
func (p Policy) Ceiling(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	return d
}

// Delay returns a jittered delay before attempt n, in [Ceiling(n)/2, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	d := p.Ceiling(n)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits for d or until ctx is done, and returns ctx.Err() in the latter
// case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
