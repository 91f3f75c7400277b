package requests

import (
	"errors"
	"fmt"
)

// ErrInvalidRequest is wrapped by every error that refuses a request: the
// request can never succeed as sent, so it is dead-lettered, not retried.
var ErrInvalidRequest = errors.New("invalid request")

// ErrInvalidConfig is wrapped by New's validation errors.
var ErrInvalidConfig = errors.New("invalid requests configuration")

// FieldError is the concrete error Parse returns: which field of the request
// was refused and why, on one line. It wraps ErrInvalidRequest.
type FieldError struct {
	// Field is the JSON field ("symbols", "interval", "range", "from",
	// "to", "priority", "requested_by"), or "request" for the body as a
	// whole.
	Field string
	// Reason says what is wrong and what is wanted.
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid request: %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidRequest) true.
func (e *FieldError) Unwrap() error { return ErrInvalidRequest }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
