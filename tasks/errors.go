package tasks

import (
	"errors"
	"fmt"

	"marketfleet/outcome"
)

// ErrInvalid is wrapped by every error that rejects an envelope: the payload
// can never be processed, so the worker dead-letters it instead of retrying
// (class outcome.Invalid).
var ErrInvalid = outcome.Mark(outcome.Invalid, errors.New("invalid task"))

// FieldError is the concrete error Decode and Validate return: which field
// was rejected and why. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid task: %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
