package source

import (
	"errors"

	"marketfleet/outcome"
)

// ErrNotFound means the source says the symbol does not exist (for Yahoo: a
// chart error "Not Found"). Permanent (class outcome.NotFound): the task is
// dead-lettered.
var ErrNotFound = outcome.Mark(outcome.NotFound, errors.New("symbol not found at source"))

// ErrRejected means the source refused the request as malformed or
// unanswerable (for Yahoo: HTTP 400 or any other chart error object).
// Permanent (class outcome.Rejected): the task is dead-lettered.
var ErrRejected = outcome.Mark(outcome.Rejected, errors.New("request rejected by source"))
