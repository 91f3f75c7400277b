package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"marketfleet/cmd/internal/cli"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/tasks"
)

// config is what the producer reads from the environment: its own settings
// (NATS, logging) and the task stream's (cli.Fleet).
type config = cli.Fleet

// newConfig returns a config holding the defaults, its variables bound.
func newConfig() *config {
	c := &config{}
	c.Defaults()
	return c
}

// loadConfig reads the environment; the error names the variable.
func loadConfig() (*config, error) {
	c := newConfig()
	return c, cli.LoadFleet(c, c)
}

func printEnv(w io.Writer) error { return cli.PrintEnv(w, newConfig()) }

type enqueueOpts struct {
	interval, rng, from, to string
	universe, requestedBy   string
	force                   bool
}

func enqueueFlags(stderr io.Writer) (*flag.FlagSet, *enqueueOpts) {
	o := &enqueueOpts{}
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.interval, "interval", "1d", "bar interval: 1m 2m 5m 15m 30m 60m (1h) 90m 1d 5d 1wk 1mo 3mo")
	fs.StringVar(&o.rng, "range", "", "window ending with the current bar: Nd, Nwk, Nmo, Ny, ytd or max (default 1mo)")
	fs.StringVar(&o.from, "from", "", "window start: 2024-01-01 or RFC 3339")
	fs.StringVar(&o.to, "to", "", "window end, exclusive (default: end of the current bar)")
	fs.StringVar(&o.universe, "universe", "", "file of symbols, one per line: SYMBOL [INTERVAL]; # comments")
	host, _ := os.Hostname()
	fs.StringVar(&o.requestedBy, "requested-by", "producer@"+host, "who asked, recorded in every task")
	fs.BoolVar(&o.force, "force", false, forceHelp)
	return fs, o
}

// forceHelp is the --force flag's help, for enqueue and backfill.
const forceHelp = "collect again even windows already published within FLEET_DEDUP_WINDOW (a distinct message id per run)"

// publishOutcome says what a publish did: accepted (forced), duplicates,
// and how to collect duplicates again.
func publishOutcome(res queue.Result, forced bool) string {
	switch {
	case forced:
		return fmt.Sprintf("%d accepted (%d forced), %d duplicates", res.Accepted, res.Accepted, res.Duplicates)
	case res.Duplicates > 0:
		return fmt.Sprintf("%d accepted, %d duplicates (already published within FLEET_DEDUP_WINDOW; --force collects them again)",
			res.Accepted, res.Duplicates)
	}
	return fmt.Sprintf("%d accepted, %d duplicates", res.Accepted, res.Duplicates)
}

func enqueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, o := enqueueFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ts, err := buildTasks(o, fs.Args(), time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	res, err := publish(ctx, cfg, ts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v (accepted %d, duplicates %d before the failure)\n", err, res.Accepted, res.Duplicates)
		return 1
	}
	fmt.Fprintf(stdout, "enqueued %d tasks: %s\n", len(ts), publishOutcome(res, o.force))
	return 0
}

// buildTasks turns flags and arguments into validated tasks.
func buildTasks(o *enqueueOpts, args []string, now time.Time) ([]tasks.Task, error) {
	iv, err := market.ParseInterval(o.interval)
	if err != nil {
		return nil, fmt.Errorf("--interval: %w", err)
	}
	entries, err := entriesFrom(o.universe, args, iv)
	if err != nil {
		return nil, err
	}
	ts := make([]tasks.Task, 0, len(entries))
	for _, e := range entries {
		from, to, err := tasks.ResolveWindow(e.Interval, o.rng, o.from, o.to, now)
		if err != nil {
			return nil, err
		}
		t := tasks.NewCollect(e.Symbol, e.Interval, from, to, o.requestedBy, now)
		t.Forced = o.force
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Symbol, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func entriesFrom(universe string, args []string, iv market.Interval) ([]market.UniverseEntry, error) {
	switch {
	case universe != "" && len(args) > 0:
		return nil, errors.New("give symbols or --universe, not both")
	case universe != "":
		f, err := os.Open(universe)
		if err != nil {
			return nil, fmt.Errorf("--universe: %w", err)
		}
		defer func() { _ = f.Close() }() // read only
		es, err := market.ParseUniverse(f, iv)
		if err != nil {
			return nil, fmt.Errorf("--universe %s: %w", universe, err)
		}
		return es, nil
	case len(args) == 0:
		return nil, errors.New("no symbols: give SYMBOL... or --universe FILE (see producer --help)")
	}
	return market.ParseUniverse(strings.NewReader(strings.Join(args, "\n")), iv)
}

func publish(ctx context.Context, cfg *config, ts []tasks.Task, stderr io.Writer) (queue.Result, error) {
	log, err := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return queue.Result{}, err
	}
	ctx, stop := cli.WithSignals(ctx, log)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pub, closeNATS, err := connectPublisher(ctx, cfg, log)
	if err != nil {
		return queue.Result{}, err
	}
	defer closeNATS()
	return pub.Publish(ctx, ts)
}
