package config

import (
	"errors"
	"fmt"
)

// FieldError says which field of a configuration is invalid.
type FieldError struct {
	// Kind is the component's sentinel, such as runner.ErrInvalidConfig.
	Kind error
	// Field is the path of Go field names from the Config validated,
	// outermost first: "Pipeline", "Stream.MaxBytes".
	Field string
	// Value is the field's value.
	Value any
	// Want says what the field wants: "want 1..8".
	Want string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s %v: %s", e.Kind, e.Field, e.Value, e.Want)
}

// Unwrap makes errors.Is(err, Kind) true.
func (e *FieldError) Unwrap() error { return e.Kind }

// Invalid returns a *FieldError for field of a component whose sentinel is
// kind; want is a format for what the field wants.
func Invalid(kind error, field string, value any, want string, args ...any) error {
	return &FieldError{Kind: kind, Field: field, Value: value, Want: fmt.Sprintf(want, args...)}
}

// In prefixes the field path of err, when it is a *FieldError, with field:
// how a Config that contains another (in field) reports the inner one's
// errors. Other errors, and nil, are returned as they are.
func In(field string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	nested := *fe
	nested.Field = field + "." + fe.Field
	return &nested
}
