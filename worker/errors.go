package worker

import "errors"

// ErrInvalidConfig is wrapped by the errors of Config.Validate that concern
// the worker's own fields, and by New's.
var ErrInvalidConfig = errors.New("invalid worker configuration")
