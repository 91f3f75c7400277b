// Command baseline runs one of the two designs marketfleet's users had
// before it, on the real task stream and bars table, so that `make bench`
// can compare them with the worker on the same workload:
//
//   - pooled: a pgxpool of BASELINE_POOL connections and BASELINE_INFLIGHT
//     tasks in flight, one upsert (its own implicit transaction) per task;
//     the design that exhausted PostgreSQL's connections;
//   - sequential: one *pgx.Conn, one task at a time; their fix.
//
// Either takes collect tasks from the durable consumer marketfleet-workers
// of the stream MARKETFLEET_TASKS (creating both if needed, as the worker
// does), fetches each task's bars from the synthetic source, upserts them
// with the worker's own statement, and acks with a plain (unconfirmed) Ack.
// A database or source error is counted and the task Nak'ed for immediate
// redelivery; an envelope that does not decode, or is not a collect task,
// is terminated. The bars written are exactly the worker's for the same
// tasks.
//
// # Environment
//
//	NATS_URL              nats server URL (required)
//	DATABASE_URL          PostgreSQL URL of a migrated database (required)
//	BASELINE_DESIGN       pooled | sequential (required)
//	BASELINE_POOL         pool MaxConns, pooled only (default 4; MinConns 0)
//	BASELINE_INFLIGHT     tasks processed at once, pooled only (default 8)
//	BASELINE_LATENCY      synthetic fetch latency, a Go duration (default 0)
//	BASELINE_APP          application_name of the sessions (default bench-<design>)
//	BASELINE_STATS        path of the JSON stats file written at exit (default: stdout)
//	BASELINE_MAX_DELIVER  the consumer's MaxDeliver (default 10, the worker's)
//
// # Stop and stats
//
// On SIGTERM or SIGINT it stops taking messages (the pooled design naks
// those already buffered), finishes the tasks in flight, flushes its acks,
// writes the stats file and exits 0; a second signal exits 2 at once. The
// stats file is one JSON object (see statsFile):
//
//	{"design": "pooled", "tasks_ok": 50, "db_errors": {"53300": 3},
//	 "connect_errors": 3, "started": "...", "stopped": "...", ...}
//
// Exit status 2 means a bad environment, 1 a failure to start.
package main
