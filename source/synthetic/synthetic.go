package synthetic

import (
	"context"
	"fmt"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/internal/config"
	"marketfleet/market"
	"marketfleet/source"
)

// Name is the source name stored in every bar's Source field.
const Name = "synthetic"

// MaxBars is the largest number of bars one request may span; a larger
// window is rejected rather than truncated.
const MaxBars = 100_000

// cancelCheckEvery is how many bars are generated between context checks.
const cancelCheckEvery = 4096

var _ source.Source = (*Source)(nil)

// Config tunes a Source. The zero Config is the default: no latency.
type Config struct {
	// Latency makes every Bars call wait this long before answering, to
	// simulate the round trip of a real source; the wait ends early, with
	// an error, when the context is cancelled. At least 0. Defaults to 0.
	Latency time.Duration
}

// Validate checks c; the error is a *config.FieldError wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Latency < 0 {
		return config.Invalid(ErrInvalidConfig, "Latency", c.Latency, "want >= 0")
	}
	return nil
}

// Source generates deterministic bars offline. The zero value is usable (no
// latency). A Source is immutable and safe for concurrent use.
type Source struct {
	latency time.Duration
}

// New returns a Source as cfg says, or a *config.FieldError wrapping
// ErrInvalidConfig.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{latency: cfg.Latency}, nil
}

// Name returns "synthetic".
func (s *Source) Name() string { return Name }

// Bars returns the bars of req, oldest first. A window with From >= To yields
// an empty slice and nil. It returns an error wrapping source.ErrRejected for
// an invalid interval or symbol or a window of more than MaxBars bars, and an
// error wrapping ctx.Err() when ctx ends before the bars are ready (including
// during the simulated latency).
func (s *Source) Bars(ctx context.Context, req source.Request) ([]market.Bar, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("synthetic %q: %w", req.Symbol, err)
	}
	if !req.From.Before(req.To) {
		return []market.Bar{}, nil
	}
	start := req.Interval.Ceil(req.From)
	n, ok := countBars(req.Interval, start, req.To, MaxBars)
	if !ok {
		return nil, fmt.Errorf("synthetic %s %s: %w: more than %d bars in [%s, %s)",
			req.Symbol, req.Interval, source.ErrRejected, MaxBars,
			req.From.UTC().Format(time.RFC3339), req.To.UTC().Format(time.RFC3339))
	}
	if err := s.wait(ctx); err != nil {
		return nil, fmt.Errorf("synthetic %s %s: simulated latency: %w", req.Symbol, req.Interval, err)
	}
	return generate(ctx, req, start, n)
}

// wait sleeps for the configured latency, or returns ctx.Err() if ctx ends
// first (or has already ended).
func (s *Source) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.latency <= 0 {
		return nil
	}
	return backoff.Sleep(ctx, s.latency)
}

// generate builds the n bars starting at start, checking ctx periodically.
func generate(ctx context.Context, req source.Request, start time.Time, n int) ([]market.Bar, error) {
	m := newModel(req.Symbol, req.Interval)
	bars := make([]market.Bar, 0, n)
	for t := start; t.Before(req.To); t = req.Interval.Next(t) {
		if len(bars)%cancelCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("synthetic %s %s: %w", req.Symbol, req.Interval, err)
			}
		}
		bars = append(bars, m.bar(t, req.Interval.Next(t)))
	}
	return bars, nil
}

// countBars returns the number of bar starts in [start, to) and true, or
// false if there are more than limit.
func countBars(iv market.Interval, start, to time.Time, limit int) (int, bool) {
	if !start.Before(to) {
		return 0, true
	}
	if iv != market.Interval1mo && iv != market.Interval3mo {
		// Fixed step. Sub saturates at about 292 years, which is far more
		// than limit bars of any interval, so saturation cannot flip the answer.
		step := iv.Step()
		span := to.Sub(start)
		n := span / step
		if span%step != 0 {
			n++
		}
		return int(n), n <= time.Duration(limit)
	}
	n := 0
	for t := start; t.Before(to); t = iv.Next(t) {
		if n++; n > limit {
			return n, false
		}
	}
	return n, true
}
