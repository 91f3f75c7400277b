// Package tasks defines the unit of work the fleet moves: a versioned JSON
// envelope naming a kind of work ("collect", "features"; the worker's
// registered handlers decide which kinds run), a symbol, a bar interval, a
// half-open time window [from, to) and who asked for it.
//
// The envelope is the wire contract between producers and workers. Decode is
// the only way bytes become a Task: it caps the size, refuses unknown fields,
// accepts only the schema versions in SupportedVersions and checks every field
// before anything reaches SQL. Every rejection wraps ErrInvalid, marked
// outcome.Invalid: the worker dead-letters the message, never retries it.
//
// MsgID derives the JetStream de-duplication id from (kind, symbol, interval,
// window) only, so the same request published twice, by the same or another
// producer, is stored once.
package tasks
