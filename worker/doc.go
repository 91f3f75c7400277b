// Package worker is one worker process's life in the fleet, as a library:
// connect to NATS and set up the streams, wait for a connection slot, hold
// exactly one PostgreSQL session while the slot is held, run the batch
// pipeline on it (package runner, with the task kinds of package kinds),
// keep the fleet's connection budget between batches, and give slot and
// session up together.
//
// New checks a Config; Run runs the worker until its context ends: the
// member loop (member.go: slot → session → runner → housekeeping), the
// dead-letter reaper and the on-demand request service, as one run group
// (one stops, all stop, and the error says which). ServeHTTP serves
// /metrics, /healthz and /readyz; cmd/worker runs it and Run in one run
// group, so that a metrics server that dies stops the worker. Migrate
// applies the schema and returns.
//
// The package reads no environment: cmd/worker maps the environment onto
// Config. Test-only pause points enter through Config.Faults (PausePoint
// parses the MARKETFLEET_TEST_PAUSE syntax).
package worker
