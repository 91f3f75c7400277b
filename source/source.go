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

// Source fetches bars. Implementations must be safe for concurrent use and
// must honour ctx cancellation promptly.
type Source interface {
	// Name is the value stored in bars.source ("synthetic", "yahoo").
	Name() string
	// Bars returns the bars of req, oldest first, each with Symbol, Interval
	// and Source set. No data in the window is an empty slice, not an error.
	Bars(ctx context.Context, req Request) ([]market.Bar, error)
}
