package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
	"marketfleet/dlq"
	"marketfleet/queue"
)

// streamCommand is `fleetctl stream apply`: the one way the fleet's
// streams are changed once they exist. Producers and workers create a
// missing stream with their settings and only warn when an existing one
// differs; the operator applies the settings of this environment here.
func streamCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "apply" {
		fmt.Fprintln(stderr, "fleetctl stream: want apply (see fleetctl --help)")
		return 2
	}
	fs := flag.NewFlagSet("stream apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "only print what would change (a missing stream is still created, as any fleet process would)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fleetctl stream apply: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	nc, js, err := cli.ConnectNATS(ctx, cfg.Common, fleetctlApp, zerolog.Nop())
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl stream apply: %v\n", err)
		return 1
	}
	defer nc.Close()
	var tasks, dead queue.Drift
	if *dryRun {
		_, tasks, err = queue.EnsureStream(ctx, js, cfg.Config.StreamConfig())
		if err == nil {
			_, dead, err = dlq.EnsureStream(ctx, js, cfg.Config.DLQConfig())
		}
	} else {
		tasks, err = queue.ApplyStream(ctx, js, cfg.Config.StreamConfig())
		if err == nil {
			dead, err = dlq.ApplyStreams(ctx, js, cfg.Config.DLQConfig())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl stream apply: %v\n", err)
		return 1
	}
	done := "applied"
	if *dryRun {
		done = "would be applied (--dry-run)"
	}
	for _, d := range tasks {
		fmt.Fprintf(stdout, "%s %s: %s\n", cfg.Config.Stream.Name, d, done)
	}
	for _, d := range dead {
		fmt.Fprintf(stdout, "%s: %s\n", d, done)
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%d setting(s) differ from this environment's; nothing changed\n", len(tasks)+len(dead))
		return 0
	}
	fmt.Fprintf(stdout, "%d setting(s) changed; the streams %s, %s and %s now have this environment's settings\n",
		len(tasks)+len(dead), cfg.Config.Stream.Name, cfg.Config.DLQ.Name, cfg.Config.DLQ.RefusedName)
	return 0
}
