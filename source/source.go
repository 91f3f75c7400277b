package source

import (
	"context"
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

// Source fetches bars. Implementations must be safe for concurrent use and
// must honour ctx cancellation promptly.
type Source interface {
	// Name is the value stored in bars.source ("synthetic", "yahoo").
	Name() string
	// Bars returns the bars of req, oldest first, each with Symbol, Interval
	// and Source set. No data in the window is an empty slice, not an error.
	Bars(ctx context.Context, req Request) ([]market.Bar, error)
}
