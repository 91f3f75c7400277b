package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"marketfleet/cmd/internal/cli"
)

const usage = `usage: fleetctl status [--json] [--watch[=2s]] [--stale N] [--timeout D]
       fleetctl budget [--json]
       fleetctl actions SYMBOL [--json]
       fleetctl audit [--symbol S] [--interval I] [--from D] [--to D] [--json] [--html FILE] [--repair [--wait D]]
       fleetctl dlq <command> [flags]
       fleetctl stream apply [--dry-run]

  status      is everything fine? One screen: a verdict (OK, WARN or CRIT
              with reasons), the task backlog per consumer and its oldest
              waiting task, dead letters by class and reason, connection
              slots, PostgreSQL sessions against max_connections (WARN
              above 80%), the failure rate of the last hour and the N
              stalest series (--stale, default 10). --watch redraws every
              interval until interrupted; --json for scripts. Exits 1 when
              NATS or PostgreSQL cannot be reached (with --watch: shown in
              the report, asked again next time). It reads the consumers
              FLEET_CONSUMER (default marketfleet-workers) and <it>-priority.

  budget      the connection math, live: max_connections, reserved slots,
              other applications' sessions, the fleet's slots (held and
              waiting replicas) and the largest safe replica count

  actions     the corporate actions (splits, dividends, capital gains) stored
              for SYMBOL, and for each the series it restated: bars changed,
              first and last, the factor, when

  audit       is the history complete? Per series: the bars expected (US
              listings: the NYSE calendar, holidays and early closes; others:
              the days the source has shown for their exchange), present,
              missing (every gap), known holes and provisional bars, between
              each series' first and last stored bar. --repair enqueues one
              collect task per gap and, with --wait (default 10m), audits
              again with a progress bar until nothing is missing; bars the
              source has no data for become known holes. --html writes a
              coverage heatmap (symbols x months). Each run is recorded (the
              last one shows in status).

  stream apply  give the task, dead-letter and refused-request streams the
              settings of this environment (FLEET_STREAM_MAX_BYTES,
              FLEET_DEDUP_WINDOW, FLEET_STREAM_REPLICAS, FLEET_DLQ_*,
              FLEET_REFUSED_*), creating them if missing, and print what
              changed (--dry-run: only print it; check it first: every
              limit not set in this environment goes back to its default).
              Producers and workers never change an existing stream: they
              warn, naming both values, when it differs.

Dead letters are tasks the fleet gave up on: invalid envelopes, unknown
symbols, data the database refused, and tasks that failed on every allowed
delivery. Each keeps its original payload and headers and says why it died.

  dlq list    [filters] [--limit N] [--json]   list dead letters, oldest first
  dlq show    SEQ [--json]                     one dead letter, payload included
  dlq replay  (SEQ... | --all [filters])       put tasks back on the task stream
                                               (--force to replay invalid envelopes)
  dlq purge   (SEQ... | --all [filters])       delete dead letters

Filters: --class C (invalid, not_found, rejected, data, bad_data, panic, exhausted,
max_deliveries), --reason TEXT, --symbol S, --older-than D, --newer-than D.
--refused: the refused on-demand requests (first 4 KiB, size and SHA-256 of each)
instead of the dead tasks; they list, show and purge, and never replay.

Configuration (environment):
`

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if code, handled := cli.Help(args, stdout, stderr, func(w io.Writer) { fmt.Fprint(w, usage); _ = printEnv(w) }); handled {
		return code
	}
	switch args[0] {
	case "dlq":
		return dlqCommand(ctx, args[1:], stdout, stderr)
	case "budget":
		return budgetCommand(ctx, args[1:], stdout, stderr)
	case "status":
		return statusCommand(ctx, args[1:], stdout, stderr)
	case "actions":
		return actionsCommand(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCommand(ctx, args[1:], stdout, stderr)
	case "stream":
		return streamCommand(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "fleetctl: unknown command %q (see fleetctl --help)\n", args[0])
	return 2
}
