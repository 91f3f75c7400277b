package features

import "errors"

// ErrMixedSeries is wrapped by Compute's error when the bars are not all of
// one symbol and one interval.
var ErrMixedSeries = errors.New("bars mix symbols or intervals")

// ErrUnsorted is wrapped by Compute's error when the bars' start times are not
// strictly increasing (a repeated bar is unsorted too).
var ErrUnsorted = errors.New("bars not strictly increasing in time")

// ErrBadBar is wrapped by Compute's error when a bar holds a value no feature
// can use: a price (adjusted close, else close) that is NaN or ±Inf, or a
// negative volume.
var ErrBadBar = errors.New("bar has an unusable price or volume")
