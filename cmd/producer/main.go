package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"marketfleet/cmd/internal/cli"
)

const usage = `usage: producer enqueue [flags] SYMBOL...
       producer enqueue --universe FILE [flags]
       producer backfill (--range 10y | --from DATE [--to DATE]) [flags] SYMBOL...
       producer backfill (--range 10y | --from DATE [--to DATE]) [flags] --universe FILE
       producer schedule --universe FILE [--market-hours] [--once] [flags]

enqueue publishes one collect task per symbol on the task stream and prints how
many were accepted and how many were duplicates: tasks already published within
FLEET_DEDUP_WINDOW (same symbol, interval and window), queued or already done. --force (enqueue and
backfill) gives every task a message id of its own, so windows queued or
collected moments ago are collected again; the tasks are marked forced.

backfill splits a long history into windows of at most --window-bars bars and
publishes one collect task per symbol and window, newest windows first, with a
progress bar on stderr. Window boundaries lie on a fixed grid of bars counted
from 1970, so running the same backfill again, or an overlapping one, makes the
same windows: within FLEET_DEDUP_WINDOW they are duplicates, not new tasks. It
validates every task, and refuses more than --max-tasks, before publishing any.
Ctrl-C stops after the chunk in flight (exit status 130); run the same command
again to publish the rest.

schedule runs until SIGINT or SIGTERM and enqueues each universe entry once
per bar of its interval, when the bar closes, for the window of the last
--lookback bars. With --market-hours, intraday bars are enqueued only during
NYSE regular sessions and daily and longer bars at --eod New York time of
each trading date. Windows depend only on the bar, so two schedulers, or a
restart, enqueue each once within FLEET_DEDUP_WINDOW; a start publishes the
ticks of that window again, as duplicates. --once publishes the ticks due
now and exits.

Flags of enqueue:
`

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if code, handled := cli.Help(args, stdout, stderr, printUsage); handled {
		return code
	}
	switch args[0] {
	case "enqueue":
		return enqueue(ctx, args[1:], stdout, stderr)
	case "backfill":
		return backfill(ctx, args[1:], stdout, stderr)
	case "schedule":
		return newScheduler().run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "producer: unknown command %q (see producer --help)\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	fs, _ := enqueueFlags(io.Discard)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nFlags of backfill:")
	bfs, _ := backfillFlags()
	bfs.SetOutput(w)
	bfs.PrintDefaults()
	fmt.Fprintln(w, "\nFlags of schedule:")
	sfs, _ := scheduleFlags()
	sfs.SetOutput(w)
	sfs.PrintDefaults()
	fmt.Fprintln(w, "\nConfiguration (environment):")
	_ = printEnv(w)
}
