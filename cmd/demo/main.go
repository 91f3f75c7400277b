package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the demo's flags.
type options struct {
	workers  int
	universe string
	bars     int
	binDir   string
	stateDir string
	adminURL string
	timeout  time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.workers, "workers", 3, "worker processes to run")
	flag.StringVar(&o.universe, "universe", "deploy/universe/demo.txt", "symbols to collect")
	flag.IntVar(&o.bars, "bars", 30, "daily bars per symbol")
	flag.StringVar(&o.binDir, "bin", "bin", "directory holding worker, producer and nats-server")
	flag.StringVar(&o.stateDir, "state", ".demo", "directory for logs and the demo nats-server's store")
	flag.StringVar(&o.adminURL, "admin-url", "", "when DATABASE_URL is unset: superuser URL on which to create database marketfleet_demo")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	if o.workers < 1 || o.bars < 1 {
		fmt.Fprintln(os.Stderr, "demo: --workers and --bars must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
}
