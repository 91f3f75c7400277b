package runner

import (
	"errors"

	"marketfleet/outcome"
)

// ErrInvalidConfig is wrapped by New's validation errors.
var ErrInvalidConfig = errors.New("invalid runner configuration")

// ErrBusy is wrapped by the error of a task whose series another task holds
// (on another worker, or earlier in the same batch): two tasks of one symbol
// and interval never run at the same time in the fleet. Marked
// outcome.Busy: the task is retried after a short delay.
var ErrBusy = outcome.Mark(outcome.Busy, errors.New("another task of this series is running"))

// errHeld is next's error when the Gate holds pulls: not a failure.
var errHeld = errors.New("pulls held by the source's limiter")
