package dlq

import "errors"

// ErrNotFound means no dead letter has the given sequence.
var ErrNotFound = errors.New("no such dead letter")

// ErrInvalidConfig is wrapped by configuration validation errors.
var ErrInvalidConfig = errors.New("invalid dead-letter configuration")

// ErrNotReplayable is wrapped by Admin.Replay for a dead-lettered on-demand
// request: it was never a task, and was refused for its content.
var ErrNotReplayable = errors.New("an invalid on-demand request cannot be replayed: send a corrected request")
