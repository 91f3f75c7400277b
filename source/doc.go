// Package source defines how market data enters the fleet: a Source turns a
// Request (symbol, interval, time window) into a Response: the bars, the
// corporate actions of the window, and the instant the answer is adjusted
// as of (a source answers split- and dividend-adjusted as of the request).
//
// Sources do network or CPU work only; they never touch the database, so a
// worker may run many of them concurrently while its single PostgreSQL
// connection stays with the batch loop. Implementations live in
// sub-packages: synthetic (offline, deterministic, the default) and yahoo (the
// Yahoo Finance v8 chart API).
//
// Errors carry their class (package outcome): ErrNotFound and ErrRejected in
// errors.go are permanent (retrying cannot help), an error marked with
// outcome.RetryAfter carries the delay the provider asked for, and anything
// else is transient.
package source
