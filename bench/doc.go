// Command bench measures marketfleet against the designs its users would
// pick instead, on the same PostgreSQL and nats-server with the same
// workload, one after another, and reports the results as ratios:
//
//   - pooled: K processes, each with a pgx pool of P connections and C tasks
//     in flight, one upsert per task (the design that exhausted connections);
//   - sequential: K processes with one connection each, one task at a time
//     (their fix);
//   - marketfleet: the real worker binary, K replicas, default settings
//     (features off: the others do not compute them).
//
// It also measures the ceilings (JetStream fetch+ack rate, one session's
// upsert rate, the fetch bound K x in-flight / L) and checks the targets of
// BENCHMARKS.md. Run it with `make bench` from the repository root; it
// prints a Markdown report and writes a JSON file.
package main
