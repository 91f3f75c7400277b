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

// ErrBadData means the source's answer is garbage: an impossible bar (see
// Response.Check), misaligned or duplicated rows, an unknown time zone, a
// body that never parses. Permanent (class outcome.BadData): the task is
// dead-lettered with the first offending value, and nothing of the answer
// is stored.
var ErrBadData = outcome.Mark(outcome.BadData, errors.New("bad data from source"))
