// Command producer enqueues collection tasks on the JetStream task stream.
//
// Usage:
//
//	producer enqueue [--interval 1d] [--range 1mo | --from DATE [--to DATE]] SYMBOL...
//	producer enqueue --universe FILE [...]
//	producer --help
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

Publishes one collect task per symbol on the task stream and prints how many
were accepted and how many were duplicates of tasks already queued (same
symbol, interval and window within FLEET_DEDUP_WINDOW).

Flags of enqueue:
`

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if code, handled := cli.Help(args, stdout, stderr, printUsage); handled {
		return code
	}
	if args[0] != "enqueue" {
		fmt.Fprintf(stderr, "producer: unknown command %q (see producer --help)\n", args[0])
		return 2
	}
	return enqueue(ctx, args[1:], stdout, stderr)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	fs, _ := enqueueFlags(io.Discard)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nConfiguration (environment):")
	_ = printEnv(w)
}
