// Package outcome says what became of a task that failed, in one typed
// vocabulary: the Class of a failure (transient, busy, deferred, invalid, not_found,
// rejected, data, panic, exhausted, max_deliveries), and how an error
// carries its class from where it is made to the one place that acts on it.
//
// A package marks an error where it makes it: Mark(Invalid, err) for an
// envelope that can never be run, RetryAfter(d, err) for a failure that may
// pass once d has gone by, Mark(Busy, err) for a series another task holds.
// Sentinel errors are marked once, at their definition, so every error that
// wraps them carries the class too. Of reads the class back through any
// chain of wrapping (the outermost mark wins); an unmarked error is
// Transient. The runner's one switch turns the class into an action
// without knowing any other package's sentinels:
//
//	nil                      → acknowledge
//	Busy                     → retry soon
//	Deferred (and After(d))  → retry no sooner than d; never exhausted
//	a dead-letter class      → dead letter, then terminate
//	Transient (and After(d)) → retry with backoff, no sooner than d
//
// The class names are stable strings: they are stored in dead letters,
// shown by fleetctl, and used as metric label values (package metrics
// builds its label values from Classes).
//
// The package is a leaf: it imports only the standard library, so that
// every package, down to the task envelope, can mark its errors.
package outcome
