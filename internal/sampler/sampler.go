package sampler

import (
	"context"
	"sync"
	"time"
)

// CountFunc returns the current value, e.g. the fleet's session count.
type CountFunc func(ctx context.Context) (int, error)

// Stats summarises the samples taken so far.
type Stats struct {
	Peak    int // largest value seen
	Last    int // most recent value
	Samples int // successful samples
	Errors  int // failed samples
}

// Sampler calls a CountFunc every period. Its methods are safe for
// concurrent use; Run must be called once.
type Sampler struct {
	count CountFunc
	every time.Duration
	mu    sync.Mutex
	stats Stats
}

// New returns a Sampler that calls count every period.
func New(every time.Duration, count CountFunc) *Sampler {
	return &Sampler{count: count, every: every}
}

// sampleTimeout bounds one sample.
const sampleTimeout = 5 * time.Second

// Run samples until ctx is done, then returns nil. A sample under way when
// ctx ends is allowed to finish (up to 5s): cancelling a query mid-flight
// would make pgx close the connection the CountFunc uses.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sampleTimeout)
		n, err := s.count(sctx)
		cancel()
		s.mu.Lock()
		if err != nil {
			s.stats.Errors++
		} else {
			s.stats.Samples++
			s.stats.Last = n
			s.stats.Peak = max(s.stats.Peak, n)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stats returns a snapshot of the statistics.
func (s *Sampler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
