// Command demo runs the whole pipeline on one machine: it makes sure a
// JetStream server is up (starting one built from the nats-server module if
// needed), enqueues the demo universe with the real producer, runs N real
// worker processes until the backlog is empty while showing progress, and
// prints a summary whose peak PostgreSQL session count must equal N.
//
// `make demo` builds the binaries, starts PostgreSQL if needed and runs it.
package main
