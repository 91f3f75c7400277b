package synthetic

import (
	"context"
	"fmt"
	"slices"
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

// Config tunes a Source. The zero Config is the default: no latency, no
// corporate actions, the wall clock.
type Config struct {
	// Latency makes every Fetch call wait this long before answering, to
	// simulate the round trip of a real source; the wait ends early, with
	// an error, when the context is cancelled. At least 0. Defaults to 0.
	Latency time.Duration
	// Actions are the corporate actions the source knows, of any symbols,
	// with amounts in the units of the unadjusted prices on the ex-date.
	// Each is in effect from its ex-date on (see the package
	// documentation). They are reported as configured, unchecked, as a real
	// source's would be: the caller validates them. Defaults to none.
	Actions market.Actions
	// Now is the clock the source answers as of. Defaults to time.Now.
	Now func() time.Time
	// Live makes the source answer as a live one does at its clock (Now):
	// no bar that starts after it; the bar in progress with the volume
	// traded so far (its share of the interval elapsed); and a bar that
	// ended less than a day before with 97% of its volume, the late trades
	// a real source adds the next day. Defaults to false: every bar of
	// the window, complete.
	Live bool
	// NoData, if set, says which bars the source has no data for: they
	// are left out of its answers, as a real source leaves out a day it
	// lost. Defaults to none.
	NoData func(symbol string, iv market.Interval, ts time.Time) bool
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
	actions map[string][]market.Action // by symbol, by ex-date
	now     func() time.Time           // nil: time.Now
	noData  func(symbol string, iv market.Interval, ts time.Time) bool
	live    bool
}

// New returns a Source as cfg says, or a *config.FieldError wrapping
// ErrInvalidConfig.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src := &Source{latency: cfg.Latency, now: cfg.Now, noData: cfg.NoData, live: cfg.Live}
	for _, a := range cfg.Actions {
		if src.actions == nil {
			src.actions = map[string][]market.Action{}
		}
		src.actions[a.Symbol] = append(src.actions[a.Symbol], a)
	}
	for _, as := range src.actions {
		slices.SortStableFunc(as, func(a, b market.Action) int { return a.Effective().Compare(b.Effective()) })
	}
	return src, nil
}

// Name returns "synthetic".
func (s *Source) Name() string { return Name }

// Fetch returns the bars of req, oldest first, and the actions in effect
// whose ex-date lies in the window, as of the source's clock. A window with
// From >= To yields an empty Response and nil. It returns an error wrapping
// source.ErrRejected for an invalid interval or symbol or a window of more
// than MaxBars bars, and an error wrapping ctx.Err() when ctx ends before
// the bars are ready (including during the simulated latency).
func (s *Source) Fetch(ctx context.Context, req source.Request) (source.Response, error) {
	asOf := s.clock()
	if err := req.Validate(); err != nil {
		return source.Response{}, fmt.Errorf("synthetic %q: %w", req.Symbol, err)
	}
	if !req.From.Before(req.To) {
		return source.Response{Bars: []market.Bar{}, Actions: []market.Action{}, AsOf: asOf}, nil
	}
	start := req.Interval.Ceil(req.From)
	n, ok := countBars(req.Interval, start, req.To, MaxBars)
	if !ok {
		return source.Response{}, fmt.Errorf("synthetic %s %s: %w: more than %d bars in [%s, %s)",
			req.Symbol, req.Interval, source.ErrRejected, MaxBars,
			req.From.UTC().Format(time.RFC3339), req.To.UTC().Format(time.RFC3339))
	}
	if err := s.wait(ctx); err != nil {
		return source.Response{}, fmt.Errorf("synthetic %s %s: simulated latency: %w", req.Symbol, req.Interval, err)
	}
	bars, err := generate(ctx, req, start, n)
	if err != nil {
		return source.Response{}, err
	}
	inEffect := s.inEffect(req.Symbol, asOf)
	m := newModel(req.Symbol, req.Interval)
	if s.noData != nil {
		bars = slices.DeleteFunc(bars, func(b market.Bar) bool { return s.noData(b.Symbol, b.Interval, b.TS) })
	}
	if s.live {
		bars = liveAt(bars, asOf)
	}
	for i := range bars {
		bars[i] = m.adjust(bars[i], inEffect)
		bars[i].AsOf = asOf
	}
	return source.Response{Bars: bars, Actions: reported(inEffect, req.From, req.To), AsOf: asOf}, nil
}

// liveAt is bars as a live source answers at asOf (Config.Live).
func liveAt(bars []market.Bar, asOf time.Time) []market.Bar {
	bars = slices.DeleteFunc(bars, func(b market.Bar) bool { return b.TS.After(asOf) })
	for i, b := range bars {
		end := b.Interval.Next(b.TS)
		switch {
		case asOf.Before(end):
			share := float64(asOf.Sub(b.TS)) / float64(end.Sub(b.TS))
			bars[i].Volume = int64(float64(b.Volume) * share)
		case asOf.Before(end.Add(24 * time.Hour)):
			bars[i].Volume = b.Volume * 97 / 100
		}
	}
	return bars
}

// clock is the time the source answers as of.
func (s *Source) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
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
