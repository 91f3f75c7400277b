// Command river-bench runs River (github.com/riverqueue/river v0.51.2, a job
// queue in PostgreSQL, with its pgx v5 driver riverpgxv5) as one of the
// designs of marketfleet's benchmark (go run ./bench, bench/riverdesign.go),
// so that the fleet can be compared with the usual "queue in the database"
// answer on the same workload.
//
// # Why a nested module
//
// This directory is its own Go module, marketfleet/bench/river, with
// marketfleet replaced by the repository root (replace marketfleet => ../..).
// River and its dependencies are the benchmark's concern, not the fleet's:
// they never enter marketfleet's go.mod, go.sum, vulnerability scans or
// builds, and `go test ./...` / `go vet ./...` at the root do not see this
// directory. The harness builds the binary with `go build` run in this
// directory (buildRiver), and tests here run with `go test ./...` from it.
//
// # The same work as the baselines
//
// A job is a collect task of the marketfleet producer (symbol, interval,
// [from, to)): its worker fetches the bars from marketfleet/source/synthetic
// (synthetic.New with RIVER_LATENCY, source.Bars) and writes them with ONE
// statement, store.UpsertStatement, executed on the pool in its own implicit
// transaction, exactly as bench/baseline does; the designs differ only in
// the queue. A job is bounded by 30 s (the baselines' task timeout); an
// error fails the attempt and River retries it on its default schedule, up
// to its default MaxAttempts (25).
//
// # Commands
//
//	river-bench migrate   River's migrations (rivermigrate, DirectionUp) on
//	                      DATABASE_URL, a database marketfleet migrated;
//	                      prints "applied N river migrations [...]"
//	river-bench insert    -n 2000 -bars 30 -from 2020-01-01 -interval 1d -chunk 1000:
//	                      n jobs, job i for symbol B%05d, bars bars of the
//	                      interval from the date, by InsertMany of chunk
//	                      jobs (one transaction each); prints "inserted N"
//	river-bench [work]    a River client working the default queue until
//	                      SIGTERM or SIGINT, then StopAndCancel within 20 s
//	                      and exit 0; prints "ready" on stdout once the
//	                      client has started (logs, warnings only, go to
//	                      stderr). It is also what runs with no command.
//
// Exit status 2 means a bad command line or environment, 1 a failure.
//
// # Environment of work
//
//	DATABASE_URL               the database (required; every command reads it)
//	RIVER_APP                  application_name of every session (default bench-river)
//	RIVER_POOL                 the pgxpool's MaxConns (unset: pgxpool's max(4, NumCPU)); MinConns 0
//	RIVER_MAX_WORKERS          the default queue's MaxWorkers (default 100)
//	RIVER_FETCH_COOLDOWN       River's FetchCooldown (unset: River's 100ms; min 1ms)
//	RIVER_FETCH_POLL_INTERVAL  River's FetchPollInterval (unset: River's 1s; >= the cooldown)
//	RIVER_LATENCY              the synthetic source's delay per fetch (default 0)
//
// # River's defaults relied on
//
//   - FetchCooldown 100ms (river.FetchCooldownDefault, minimum 1ms): a
//     producer fetches at most that often, each fetch taking up to
//     MaxWorkers minus the jobs running. River's documentation says
//     "throughput is limited by this value": with 100 workers, about
//     1,000 jobs/s whatever the work.
//   - FetchPollInterval 1s (river.FetchPollIntervalDefault, minimum 1ms,
//     not below the cooldown): the fallback poll; new jobs are normally
//     announced by LISTEN/NOTIFY on insert.
//   - MaxWorkers: River has no default (QueueConfig.MaxWorkers is required,
//     1 to 10,000); 100 is the value of every example in River's docs, and
//     this binary's default.
//   - MaxAttempts 25, JobTimeout 1 minute (overridden to 30 s here), the
//     batch completer, leader election and maintenance as River starts
//     them.
//
// # Sessions
//
// Everything River does goes through the one pgxpool handed to
// riverpgxv5.New, which the jobs' upserts share: fetching, completing
// (batched), leader election and the leader's maintenance services
// (cleaner, rescuer, scheduler, reindexer...) acquire pool connections.
// River's LISTEN connection (one per client, the notifier's) is acquired
// from the pool and then hijacked (pgxpool.Conn.Hijack): it leaves the pool
// for good, the pool may open MaxConns others, so a process holds up to
// RIVER_POOL + 1 sessions, all named RIVER_APP (measured: pool 3 peaks at 4,
// pool 4 at 5, pool 5 at 6). For the same number of sessions as k
// marketfleet workers, give River a pool of k - 1.
//
// # Tuned settings (one process, 2-core machine shared with other tests)
//
// Measured as the harness runs a design: start `work`, wait for "ready",
// then insert (20,000 one-bar jobs at latency 0, or 8,000 thirty-bar jobs at
// 20ms) and time until no job is left unfinalized; jobs/s = jobs / that
// time, insert included; sessions sampled every 5 ms. Medians of 3
// interleaved runs (PostgreSQL 15, River v0.51.2):
//
//	pool  MaxWorkers  FetchCooldown  FetchPollInterval  L=0, 1 bar  L=20ms, 30 bars  peak sessions
//	4     100         100ms (def.)   1s (def.)                995          972            5
//	4     100         1ms            50ms                   3,542        1,457            5
//	5     200         10ms           50ms                   3,815        1,932            6
//	5     400         10ms           50ms                   3,996        2,193            6
//	3     400         10ms           50ms                   3,195*       1,779*           4
//
// (* mean of 2 runs.) River's defaults are pinned near MaxWorkers /
// FetchCooldown = 1,000 jobs/s at both latencies. The fastest
// ("river-tuned") was pool 5, MaxWorkers 400, FetchCooldown 10ms,
// FetchPollInterval 50ms. At latency 0 the machine's CPU is the limit: 1ms
// and 10ms cooldowns, 100 to 1,000 workers, pool 4 or 5 all land at
// 3,500-4,000 jobs/s within the noise. At 20ms more workers keep more jobs
// waiting on the source at once (100: ~1,500, 200: ~1,900, 400: ~2,200,
// 1,000: ~2,280, a plateau where the CPU is the limit again). Single runs
// varied by up to 30% with the other session's load.
package main
