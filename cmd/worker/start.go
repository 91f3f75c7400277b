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
	"marketfleet/dlq"
	"marketfleet/internal/backoff"
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
func start(ctx context.Context, cfg *config, mode string, testPause *pause, stderr io.Writer) error {
	log, err := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	log = log.With().Str("worker", cfg.WorkerID).Logger()
	ctx, stop := cli.WithSignals(ctx, log)
	defer stop()

	if testPause != nil {
		testPause.log = log
	}
	health := newHealth()
	if cfg.MetricsAddr != "" {
		srv, err := health.serve(cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("FLEET_METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
		defer shutdownHTTP(srv)
	}
	db, err := openStore(ctx, cfg, log, health, mode == "migrate", testPause.at("before-commit"))
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
	q, err := openQueue(ctx, cfg, log)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	defer q.nc.Close()
	health.bound.Store(true)
	src, err := newSource(cfg)
	if err != nil {
		return err
	}
	r, err := runner.New(q.fetcher, db, src, q.dead, runner.Config{
		WorkerID:         cfg.WorkerID,
		MaxDeliver:       cfg.MaxDeliver,
		FetchConcurrency: cfg.FetchConcurrency,
		AckWait:          cfg.AckWait,
		Grace:            cfg.ShutdownGrace,
		Retry:            backoff.Policy{Base: cfg.RetryBase, Max: cfg.RetryMax},
		WriteTimeout:     cfg.WriteTimeout,
		AfterCommit:      testPause.at("after-commit"),
		Logger:           &log,
	})
	if err != nil {
		return err
	}
	return cli.RunAll(ctx, r.Run, q.reaper.Run)
}

// openStore opens the worker's one PostgreSQL session and migrates the
// schema when asked to.
func openStore(ctx context.Context, cfg *config, log zerolog.Logger, h *health, migrate bool, beforeCommit func(context.Context)) (*store.Store, error) {
	opts := []store.Option{store.WithApplicationName(cfg.appName()), store.WithLogger(log),
		store.WithSessionHook(h.session.Store), store.WithStatementTimeout(cfg.StatementTimeout),
		store.WithReapStaleSessions()}
	if beforeCommit != nil {
		opts = append(opts, store.WithBeforeCommit(beforeCommit))
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, opts...)
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

// queueSide is the worker's JetStream side.
type queueSide struct {
	nc      *nats.Conn
	fetcher *queue.Fetcher
	dead    *dlq.Writer
	reaper  *dlq.Reaper
}

// openQueue connects to NATS, ensures the task stream, the consumer and the
// dead-letter stream, and returns the batch fetcher, the dead-letter writer
// and the reaper of MAX_DELIVERIES advisories.
func openQueue(ctx context.Context, cfg *config, log zerolog.Logger) (*queueSide, error) {
	nc, js, err := cli.ConnectNATS(ctx, cfg.NATSURL, cfg.appName(), log)
	if err != nil {
		return nil, err
	}
	q := &queueSide{nc: nc, dead: dlq.NewWriter(js, cfg.DLQStream)}
	err = cli.Retry(ctx, log, "set up JetStream", func(ctx context.Context) error {
		if _, err := queue.EnsureStream(ctx, js, cfg.StreamConfig()); err != nil {
			return err
		}
		cons, err := queue.EnsureConsumer(ctx, js, cfg.Stream, cfg.consumerConfig())
		if err != nil {
			return err
		}
		if q.fetcher, err = queue.NewFetcher(cons, queue.FetcherConfig{Size: cfg.BatchSize, MaxWait: cfg.FetchWait}); err != nil {
			return err
		}
		if _, err := dlq.EnsureStream(ctx, js, cfg.DLQConfig()); err != nil {
			return err
		}
		q.reaper, err = dlq.NewReaper(ctx, js, q.dead, cfg.Stream, cfg.Consumer, cfg.StreamReplicas, cfg.WorkerID, log)
		return err
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
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
