package slots

import "errors"

// ErrLost is wrapped by Lease.Check and Lease.Err once the lease can no
// longer be trusted: renewals failed for too long, or the key was taken over.
var ErrLost = errors.New("connection slot lost")

// ErrRevoked is wrapped by Lease.Err when the holder gave the slot up
// because a smaller budget was published.
var ErrRevoked = errors.New("connection slot revoked by a smaller budget")

// ErrInvalidConfig is wrapped by Open's validation errors.
var ErrInvalidConfig = errors.New("invalid slots configuration")
