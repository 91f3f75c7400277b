package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
)

// statusOptions are the flags of `fleetctl status`.
type statusOptions struct {
	// JSON emits the report as JSON (one compact document per line with
	// Watch). Defaults to false.
	JSON bool
	// Watch redraws the report every Watch until SIGINT or SIGTERM; 0
	// reports once. --watch alone means 2s.
	Watch time.Duration
	// Stale is how many of the stalest series to show. Defaults to 10.
	Stale int
	// Timeout bounds the attempt to reach each service (and each statement).
	// Defaults to 10s.
	Timeout time.Duration
}

// defaultWatch is the interval of a bare --watch.
const defaultWatch = 2 * time.Second

// watchFlag is --watch, alone (defaultWatch) or with an interval.
type watchFlag struct{ d *time.Duration }

func (f watchFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f watchFlag) IsBoolFlag() bool { return true }

func (f watchFlag) Set(s string) error {
	switch s {
	case "true":
		*f.d = defaultWatch
		return nil
	case "false":
		*f.d = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive interval such as 2s")
	}
	*f.d = d
	return nil
}

func parseStatusFlags(args []string, stderr io.Writer) (statusOptions, error) {
	o := statusOptions{}
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.JSON, "json", false, "JSON output for scripts (one document per line with --watch)")
	fs.Var(watchFlag{&o.Watch}, "watch", "redraw every interval (--watch alone: 2s) until interrupted")
	fs.IntVar(&o.Stale, "stale", 10, "show this many of the stalest series")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "how long to try reaching NATS and PostgreSQL")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintf(stderr, "fleetctl status: %v\n", err)
		return o, err
	case o.Stale < 1 || o.Timeout <= 0:
		err := fmt.Errorf("--stale %d, --timeout %s: want at least 1 and a positive duration", o.Stale, o.Timeout)
		fmt.Fprintf(stderr, "fleetctl status: %v\n", err)
		return o, err
	}
	return o, nil
}

func statusCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseStatusFlags(args, stderr)
	if err != nil {
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	if opt.Watch > 0 {
		return watchStatus(ctx, cfg, opt, stdout, stderr)
	}
	r, err := gather(ctx, cfg, opt)
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl status: %s\n", oneLine(err))
		return 1
	}
	if opt.JSON {
		err = renderJSON(stdout, r, time.Now(), true)
	} else {
		err = render(stdout, r, time.Now(), isTerminal(stdout))
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl status: %v\n", err)
		return 1
	}
	return 0
}

// watchStatus reports every opt.Watch until a signal (or ctx) stops it. A
// service that cannot be reached is shown in the report, and asked again
// next time. In a terminal each report replaces the last; piped, reports
// are separated by a line.
func watchStatus(ctx context.Context, cfg *config, opt statusOptions, stdout, stderr io.Writer) int {
	ctx, stop := cli.WithSignals(ctx, zerolog.Nop())
	defer stop()
	tty := isTerminal(stdout)
	for n := 0; ; n++ {
		r, _ := gather(ctx, cfg, opt) // errors are part of the report
		if ctx.Err() != nil {
			return 0
		}
		if err := writeFrame(stdout, r, opt.JSON, tty, n); err != nil {
			fmt.Fprintf(stderr, "fleetctl status: %v\n", err)
			return 1
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(opt.Watch):
		}
	}
}

// writeFrame writes the n-th report of a watch in one write.
func writeFrame(w io.Writer, r statusReport, asJSON, tty bool, n int) error {
	var buf bytes.Buffer
	var err error
	switch {
	case asJSON:
		err = renderJSON(&buf, r, time.Now(), false)
	case tty:
		buf.WriteString("\x1b[H\x1b[2J")
		err = render(&buf, r, time.Now(), true)
	default:
		if n > 0 {
			buf.WriteString("\n----------------------------------------------------------------------\n\n")
		}
		err = render(&buf, r, time.Now(), false)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// isTerminal reports whether w is a terminal (colour and screen redraws).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
