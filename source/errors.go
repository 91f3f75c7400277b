package source

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotFound means the source says the symbol does not exist (for Yahoo: a
// chart error "Not Found"). Permanent: the task is dead-lettered.
var ErrNotFound = errors.New("symbol not found at source")

// ErrRejected means the source refused the request as malformed or
// unanswerable (for Yahoo: HTTP 400 or any other chart error object).
// Permanent: the task is dead-lettered.
var ErrRejected = errors.New("request rejected by source")

// RetryAfterError is a transient failure for which the source said how long
// to wait (HTTP 429 or 503 with Retry-After, after the in-client retries were
// spent). The task is retried no sooner than After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// IsPermanent reports whether err means retrying the same request cannot
// succeed.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrRejected)
}
