package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

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
// signal arrives. Stopped by a signal before the work began, it returns nil.
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
	db, err := openStore(ctx, cfg, log, health, mode == "migrate")
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = db.Close(cctx)
		log.Info().Msg("postgres session closed")
	}()
	if mode == "migrate" {
		return nil
	}
	nc, fetcher, err := openQueue(ctx, cfg, log)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	defer nc.Close()
	health.bound.Store(true)
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

// openStore opens the worker's one PostgreSQL session and migrates the
// schema when asked to.
func openStore(ctx context.Context, cfg *config, log zerolog.Logger, h *health, migrate bool) (*store.Store, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.WithApplicationName(cfg.appName()),
		store.WithLogger(log), store.WithSessionHook(h.session.Store))
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate || migrate {
		if _, err := db.Migrate(ctx); err != nil {
			_ = db.Close(context.Background())
			return nil, err
		}
	}
	return db, nil
}

// openQueue connects to NATS, ensures the stream and the consumer, and
// returns the worker's batch fetcher.
func openQueue(ctx context.Context, cfg *config, log zerolog.Logger) (*nats.Conn, *queue.Fetcher, error) {
	nc, js, err := cli.ConnectNATS(ctx, cfg.NATSURL, cfg.appName(), log)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*nats.Conn, *queue.Fetcher, error) { nc.Close(); return nil, nil, err }
	if _, err := queue.EnsureStream(ctx, js, cfg.StreamConfig()); err != nil {
		return fail(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, cfg.Stream, cfg.consumerConfig())
	if err != nil {
		return fail(err)
	}
	fetcher, err := queue.NewFetcher(cons, queue.FetcherConfig{Size: cfg.BatchSize, MaxWait: cfg.FetchWait})
	if err != nil {
		return fail(err)
	}
	return nc, fetcher, nil
}

// stoppedIsNil turns an error caused by a shutdown signal into a clean stop.
func stoppedIsNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func newSource(cfg *config) (source.Source, error) {
	if cfg.Source == "yahoo" {
		return yahoo.New(cfg.YahooURL, yahoo.WithHTTPClient(&http.Client{Timeout: cfg.HTTPTimeout}))
	}
	return synthetic.New(synthetic.WithLatency(cfg.SyntheticLatency)), nil
}
