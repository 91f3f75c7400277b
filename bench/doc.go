// Command bench measures marketfleet against the designs its users would
// pick instead, on the same PostgreSQL and nats-server with the same
// workload, one after another, and reports the results as ratios:
//
//   - pooled: K processes, each with a pgx pool of P connections and C tasks
//     in flight, one upsert per task (the design that exhausted connections);
//   - sequential: K processes with one connection each, one task at a time
//     (their fix);
//   - river, river-tuned: River (riverqueue/river, Go + PostgreSQL), built
//     from the nested module bench/river (riverdesign.go), its defaults and
//     a tuned setting;
//   - marketfleet: the real worker binary, K replicas, default settings
//     (features off: the others do not compute them).
//
// Three modes, each selectable alone (-modes, main.go): throughput (the
// designs, the ceilings, CPU per task and profiles (profile.go), the
// scaling series, exhaustion, the restatement and audit costs), durable
// (the nats-server with sync_interval: always, fsyncs per task counted
// with strace: durable.go, fsyncs.go) and source (a fake Yahoo at a
// realistic latency, the fleet-wide rate as the source counts it:
// sourcerate.go). It checks the targets of BENCHMARKS.md (targets.go).
// Run it with `make bench` from the repository root; it prints a Markdown
// report and writes a JSON file.
package main
