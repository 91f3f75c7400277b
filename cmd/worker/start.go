package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"marketfleet/cmd/internal/cli"
	"marketfleet/queue"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/source/yahoo"
	"marketfleet/store"
)

func loadConfig(cfg *config) error { return cli.Load(cfg) }

func printEnv(w io.Writer) error { return cli.PrintEnv(w, &config{}) }

// start wires the worker together and runs it until ctx is cancelled or a
// signal arrives.
func start(ctx context.Context, cfg *config, mode string, stderr io.Writer) error {
	log, err := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	log = log.With().Str("worker", cfg.WorkerID).Logger()
	ctx, stop := cli.WithSignals(ctx, log)
	defer stop()

	health := newHealth()
	if cfg.MetricsAddr != "" {
		srv, err := health.serve(cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("FLEET_METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
		defer shutdownHTTP(srv)
	}

	db, err := store.Open(ctx, cfg.DatabaseURL, store.WithApplicationName(cfg.appName()),
		store.WithLogger(log), store.WithSessionHook(health.session.Store))
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the first session
		}
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = db.Close(cctx)
		log.Info().Msg("postgres session closed")
	}()
	if cfg.AutoMigrate || mode == "migrate" {
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	if mode == "migrate" {
		return nil
	}

	nc, js, err := cli.ConnectNATS(ctx, cfg.NATSURL, cfg.appName(), log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer nc.Close()
	if _, err := queue.EnsureStream(ctx, js, cfg.StreamConfig()); err != nil {
		return err
	}
	cons, err := queue.EnsureConsumer(ctx, js, cfg.Stream, cfg.consumerConfig())
	if err != nil {
		return err
	}
	health.bound.Store(true)
	fetcher, err := queue.NewFetcher(cons, queue.FetcherConfig{Size: cfg.BatchSize, MaxWait: cfg.FetchWait})
	if err != nil {
		return err
	}
	src, err := newSource(cfg)
	if err != nil {
		return err
	}
	r, err := runner.New(fetcher, db, src, runner.Config{
		FetchConcurrency: cfg.FetchConcurrency,
		AckWait:          cfg.AckWait,
		Grace:            cfg.ShutdownGrace,
		Logger:           &log,
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func newSource(cfg *config) (source.Source, error) {
	if cfg.Source == "yahoo" {
		return yahoo.New(cfg.YahooURL, yahoo.WithHTTPClient(&http.Client{Timeout: cfg.HTTPTimeout}))
	}
	return synthetic.New(synthetic.WithLatency(cfg.SyntheticLatency)), nil
}
