package market

import "errors"

// ErrInvalidInterval is wrapped by every error that rejects an interval.
var ErrInvalidInterval = errors.New("invalid interval")

// ErrInvalidSymbol is wrapped by every error that rejects a symbol.
var ErrInvalidSymbol = errors.New("invalid symbol")

// ErrInvalidAction is wrapped by every error that refuses a corporate action.
var ErrInvalidAction = errors.New("invalid corporate action")
