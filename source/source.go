package source

import (
	"context"
	"fmt"
	"time"

	"marketfleet/market"
)

// Request asks a Source for the bars of one symbol at one interval whose start
// lies in the half-open window [From, To).
type Request struct {
	Symbol   string
	Interval market.Interval
	From     time.Time
	To       time.Time
}

// Validate checks the symbol and interval of r. The error wraps ErrRejected
// (a source can never answer such a request) and the market package's
// ErrInvalidSymbol or ErrInvalidInterval.
func (r Request) Validate() error {
	if err := market.ValidateSymbol(r.Symbol); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if !r.Interval.Valid() {
		return fmt.Errorf("%w: %w %q", ErrRejected, market.ErrInvalidInterval, r.Interval)
	}
	return nil
}

// Response is a source's answer to a Request.
type Response struct {
	// Bars are the bars of the window, oldest first, each with Symbol,
	// Interval, Source and AsOf set. No data is an empty slice.
	Bars []market.Bar
	// Actions are the corporate actions of the symbol whose ex-date lies in
	// the window, as the source reports them (unchecked: the caller
	// validates them, with the bars).
	Actions []market.Action
	// AsOf is the instant the answer is adjusted as of: prices and volumes
	// reflect every split, and adjusted closes every split and
	// distribution, whose ex-date is not after it. It is when the source
	// answered.
	AsOf time.Time
}

// Source fetches bars and corporate actions. Implementations must be safe
// for concurrent use and must honour ctx cancellation promptly.
type Source interface {
	// Name is the value stored in bars.source ("synthetic", "yahoo").
	Name() string
	// Fetch answers req. No data in the window is an empty Response, not
	// an error.
	Fetch(ctx context.Context, req Request) (Response, error)
}

// Bars fetches req from s and returns the bars alone, for callers that want
// nothing else (benchmarks, tests); the worker stores the whole Response.
func Bars(ctx context.Context, s Source, req Request) ([]market.Bar, error) {
	resp, err := s.Fetch(ctx, req)
	return resp.Bars, err
}
