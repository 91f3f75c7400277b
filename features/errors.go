package features

import (
	"errors"

	"marketfleet/outcome"
)

// The errors Compute wraps. Each is marked outcome.Data: the bars can never
// give features, so the task that asked for them is dead-lettered rather
// than retried.
var (
	// ErrMixedSeries: the bars are not all of one symbol and one interval.
	ErrMixedSeries = outcome.Mark(outcome.Data, errors.New("bars mix symbols or intervals"))
	// ErrUnsorted: the bars' start times are not strictly increasing (a
	// repeated bar is unsorted too).
	ErrUnsorted = outcome.Mark(outcome.Data, errors.New("bars not strictly increasing in time"))
	// ErrBadBar: a bar holds a value no feature can use: a price (adjusted
	// close, else close) that is NaN or ±Inf, or a negative volume.
	ErrBadBar = outcome.Mark(outcome.Data, errors.New("bar has an unusable price or volume"))
)
