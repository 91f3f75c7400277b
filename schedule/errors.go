package schedule

import "errors"

// ErrInvalidConfig is wrapped by every error New returns for a Config it
// refuses; the message names the field.
var ErrInvalidConfig = errors.New("invalid schedule configuration")

// ErrTooManyEntries is wrapped by the error New returns when the universe
// has more entries than Config.MaxEntries. That error also wraps
// ErrInvalidConfig.
var ErrTooManyEntries = errors.New("too many universe entries")
