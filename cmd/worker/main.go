// Command worker consumes collection tasks from JetStream in small batches
// and writes their bars to PostgreSQL through exactly one session.
//
// Usage:
//
//	worker           run until SIGTERM or SIGINT
//	worker migrate   apply schema migrations and exit
//	worker --help    print every environment variable with its default
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

const usage = `usage: worker [migrate]

Runs one marketfleet worker: one PostgreSQL session, small acknowledged
batches from JetStream. SIGTERM/SIGINT stops fetching, finishes and acks the
current batch, closes the session and exits 0; a second signal forces exit.

  worker           run until signalled
  worker migrate   apply missing schema migrations, then exit

Configuration (environment):
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var cfg config
	mode := "run"
	switch {
	case len(args) == 0:
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usage)
		_ = printEnv(stdout)
		return 0
	case len(args) == 1 && args[0] == "migrate":
		mode = "migrate"
	default:
		fmt.Fprintf(stderr, "worker: unexpected arguments %q (see worker --help)\n", args)
		return 2
	}
	if err := loadConfig(&cfg); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	debug.SetGCPercent(cfg.GCPercent)
	testPause, err := parsePause()
	if err != nil {
		fmt.Fprintf(stderr, "worker: invalid configuration: %v\n", err)
		return 2
	}
	if err := start(context.Background(), &cfg, mode, testPause, stderr); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 1
	}
	return 0
}
