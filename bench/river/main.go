package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"marketfleet/market"
)

// usageError is a bad command line or environment: exit status 2.
type usageError struct{ error }

// usagef returns a usageError.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// After the first signal, a second one kills the process as usual.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "river-bench:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "river-bench:", err)
		os.Exit(1)
	}
}

// run carries out the subcommand of args (work when there is none).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "work"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	log := newLogger(stderr)
	switch cmd {
	case "migrate":
		if err := noArgs(cmd, args, stderr); err != nil {
			return err
		}
		dbURL := getenv("DATABASE_URL")
		if dbURL == "" {
			return usagef("DATABASE_URL is not set")
		}
		versions, err := migrate(ctx, dbURL)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "applied %d river migrations %v\n", len(versions), versions)
		return err
	case "insert":
		p, err := parseInsert(args, stderr)
		if err != nil {
			return err
		}
		dbURL := getenv("DATABASE_URL")
		if dbURL == "" {
			return usagef("DATABASE_URL is not set")
		}
		n, err := insert(ctx, dbURL, p, log)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "inserted %d\n", n)
		return err
	case "work":
		if err := noArgs(cmd, args, stderr); err != nil {
			return err
		}
		c, err := loadWorkConfig(getenv)
		if err != nil {
			return usagef("%w", err)
		}
		return work(ctx, c, stdout, log)
	default:
		return usagef("unknown command %q: want migrate, insert or work", cmd)
	}
}

func noArgs(cmd string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %w", cmd, err)
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments", cmd)
	}
	return nil
}

// parseInsert reads insert's flags.
func parseInsert(args []string, stderr io.Writer) (insertParams, error) {
	var p insertParams
	var from, interval string
	fs := flag.NewFlagSet("insert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&p.N, "n", 2000, "jobs (symbols B00000, B00001, ...)")
	fs.IntVar(&p.Bars, "bars", 30, "bars per job")
	fs.StringVar(&from, "from", "2020-01-01", "first bar's date (UTC)")
	fs.StringVar(&interval, "interval", string(market.Interval1d), "bar interval")
	fs.IntVar(&p.Chunk, "chunk", 1000, "jobs per InsertMany call")
	if err := fs.Parse(args); err != nil {
		return p, usagef("insert: %w", err)
	}
	if fs.NArg() > 0 {
		return p, usagef("insert takes flags only")
	}
	var err error
	if p.From, err = time.Parse(time.DateOnly, from); err != nil {
		return p, usagef("-from %q: want a date such as 2020-01-01", from)
	}
	p.Interval = market.Interval(interval)
	if err := p.validate(); err != nil {
		return p, usagef("%w", err)
	}
	return p, nil
}
