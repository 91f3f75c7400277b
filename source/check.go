package source

import (
	"fmt"
	"time"
)

// Check refuses an answer to req that holds an impossible bar
// (market.Bar.Validate, as of the answer), a bar of another series or
// outside the window, or two bars that do not strictly follow each other.
// The error wraps ErrBadData and names the first offending bar: the whole
// answer is refused, never half-stored. Corporate actions are checked by
// their user (they need the bars).
func (r Response) Check(req Request) error {
	for i, b := range r.Bars {
		if err := b.Validate(r.AsOf); err != nil {
			return fmt.Errorf("%w: bar %d of %d: %w", ErrBadData, i+1, len(r.Bars), err)
		}
		switch {
		case b.Symbol != req.Symbol || b.Interval != req.Interval:
			return fmt.Errorf("%w: bar %d is of %s, asked for %s %s", ErrBadData, i+1, b.Series(), req.Symbol, req.Interval)
		case b.TS.Before(req.Interval.Floor(req.From)) || !b.TS.Before(req.To):
			return fmt.Errorf("%w: bar %d at %s lies outside the window asked for", ErrBadData, i+1, b.TS.Format(time.RFC3339))
		case i > 0 && !b.TS.After(r.Bars[i-1].TS):
			return fmt.Errorf("%w: bar %d at %s does not follow bar %d at %s", ErrBadData, i+1, b.TS.Format(time.RFC3339),
				i, r.Bars[i-1].TS.Format(time.RFC3339))
		}
	}
	return nil
}
