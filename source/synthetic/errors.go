package synthetic

import "errors"

// ErrInvalidConfig is wrapped by New's error for an invalid Config.
var ErrInvalidConfig = errors.New("invalid synthetic source configuration")
