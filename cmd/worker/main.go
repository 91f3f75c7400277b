package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/cmd/internal/cli"
	"marketfleet/internal/rungroup"
	"marketfleet/worker"
)

const usage = `usage: worker [migrate]

Runs one marketfleet worker: one PostgreSQL session, small acknowledged
batches from JetStream. SIGTERM/SIGINT stops fetching, finishes and acks the
batches in hand, closes the session and exits 0; a second signal forces the
stop.

  worker           run until signalled
  worker migrate   apply missing schema migrations, then exit

Configuration (environment):
`

// envTestPause names the test-only variable of the fault tests' pause
// points (worker.PausePoint); --help does not show it.
const envTestPause = "MARKETFLEET_TEST_PAUSE"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	migrate := len(args) == 1 && args[0] == "migrate"
	switch {
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usage)
		_ = printEnv(stdout)
		return 0
	case len(args) > 0 && !migrate:
		fmt.Fprintf(stderr, "worker: unexpected arguments %q (see worker --help)\n", args)
		return 2
	}
	cfg, e, err := load()
	if err == nil {
		cfg.Logger, err = cli.NewLogger(stderr, e.LogLevel, e.LogFormat)
	}
	if err == nil {
		cfg.Faults, err = worker.PausePoint(os.Getenv(envTestPause), cfg.Logger)
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	debug.SetGCPercent(e.GCPercent)
	cfg.Dial = func(ctx context.Context, h worker.NATSHooks) (*nats.Conn, jetstream.JetStream, error) {
		return cli.ConnectNATS(ctx, e.Common, "marketfleet-worker/"+cfg.ID, cfg.Logger,
			cli.NATSHooks{Connected: h.Connected, Reconnected: h.Reconnected})
	}
	ctx, stop := cli.WithSignals(context.Background(), cfg.Logger.With().Str("worker", cfg.ID).Logger())
	defer stop()
	if migrate {
		err = worker.Migrate(ctx, cfg)
	} else {
		err = runWorker(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 1
	}
	return 0
}

// runWorker runs the worker and its metrics server in one group: when
// either stops, both stop, and the error says which failed.
func runWorker(ctx context.Context, cfg worker.Config) error {
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	return rungroup.Run(ctx,
		rungroup.Actor{Name: "metrics server", Run: w.ServeHTTP},
		rungroup.Actor{Run: w.Run}) // its errors say what failed
}
