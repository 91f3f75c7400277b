package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
	"marketfleet/dlq"
	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/queue"
	"marketfleet/ratelimit"
	"marketfleet/requests"
	"marketfleet/slots"
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
	if mode == "migrate" {
		return stoppedIsNil(ctx, migrate(ctx, cfg, log))
	}

	if testPause != nil {
		testPause.log = log
	}
	health := newHealth()
	mx := metrics.NewWorker(kinds.Names()...)
	if cfg.MetricsAddr != "" {
		srv, err := health.serve(cfg.MetricsAddr, mx.Handler())
		if err != nil {
			return fmt.Errorf("FLEET_METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
		defer shutdownHTTP(srv)
	}
	q, err := openQueue(ctx, cfg, log, mx)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	defer func() {
		// Whatever the runner sent last (the Naks of unstarted tasks) must
		// reach the server before the connection goes.
		_ = q.nc.FlushTimeout(2 * time.Second)
		q.nc.Close()
	}()
	health.bound.Store(true)
	src, err := newSource(ctx, cfg, q.js, log, mx)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	svc, err := requests.New(q.nc, requests.Config{Publisher: q.tasks, DeadLetters: q.dead, WorkerID: cfg.WorkerID, Logger: &log,
		Handled: func(outcome string) { mx.Requests.WithLabelValues(outcome).Inc() }})
	if err != nil {
		return err
	}
	m := &member{cfg: cfg, log: log, health: health, q: q, src: src, pause: testPause, mx: mx, counts: newTaskCounts(cfg.WorkerID)}
	// Every worker serves on-demand requests, waiting replicas too: they
	// need NATS only.
	return cli.RunAll(ctx, m.run, q.reaper.Run, svc.Run)
}

// migrate applies the schema migrations through a session of its own
// (application_name marketfleet-migrate: an operator's session, like psql,
// not one of the fleet's) and returns.
func migrate(ctx context.Context, cfg *config, log zerolog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Config{ApplicationName: "marketfleet-migrate", Logger: log})
	if err != nil {
		return err
	}
	_, err = db.Migrate(ctx)
	if cerr := db.Close(context.Background()); err == nil && cerr != nil {
		log.Warn().Err(cerr).Msg("closing the migration session")
	}
	return err
}

// openStore opens the worker's one PostgreSQL session, which gate must
// allow, and migrates the schema when configured to.
func openStore(ctx context.Context, cfg *config, log zerolog.Logger, h *health, mx *metrics.Worker, gate func(context.Context) error) (*store.Store, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Config{ApplicationName: cfg.appName(), Logger: log,
		OnSession: sessionHook(h, mx), OnConnect: connectHook(mx), StatementTimeout: cfg.StatementTimeout,
		ReapStaleSessions: true, ConnectGate: gate})
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
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
	js      jetstream.JetStream
	fetcher *queue.Fetcher
	dead    *dlq.Writer
	reaper  *dlq.Reaper
	slots   *slots.Table
	tasks   *queue.Publisher // follow-up tasks
}

// openQueue connects to NATS, ensures the task stream, the consumer, the
// dead-letter stream and the slot bucket, and returns the batch fetcher, the
// dead-letter writer, the reaper of MAX_DELIVERIES advisories and the slot
// table.
func openQueue(ctx context.Context, cfg *config, log zerolog.Logger, mx *metrics.Worker) (*queueSide, error) {
	nc, js, err := cli.ConnectNATS(ctx, cfg.Common, cfg.appName(), log, cli.NATSHooks{
		Connected:   func(up bool) { mx.NATSConnected.Set(b2f(up)) },
		Reconnected: mx.NATSReconnects.Inc,
	})
	if err != nil {
		return nil, err
	}
	dead := dlq.NewWriter(js, cfg.DLQStream, dlq.WithWrittenHook(func(l dlq.Letter) { mx.DeadLetters.WithLabelValues(string(l.Class)).Inc() }))
	q := &queueSide{nc: nc, js: js, dead: dead, tasks: queue.NewPublisher(js, cfg.Stream)}
	err = cli.Retry(ctx, log, "set up JetStream", func(ctx context.Context) error {
		if _, err := queue.EnsureStream(ctx, js, cfg.StreamConfig()); err != nil {
			return err
		}
		cons, err := queue.EnsureConsumer(ctx, js, cfg.Stream, cfg.consumerConfig(false))
		if err != nil {
			return err
		}
		urgent, err := queue.EnsureConsumer(ctx, js, cfg.Stream, cfg.consumerConfig(true))
		if err != nil {
			return err
		}
		q.fetcher, err = queue.NewFetcher(cons, queue.FetcherConfig{Size: cfg.BatchSize, MaxWait: cfg.FetchWait, Priority: urgent})
		if err != nil {
			return err
		}
		if _, err := dlq.EnsureStream(ctx, js, cfg.DLQConfig()); err != nil {
			return err
		}
		if q.reaper, err = dlq.NewReaper(ctx, js, q.dead, cfg.Stream, cfg.StreamReplicas, cfg.WorkerID, log); err != nil {
			return err
		}
		q.slots, err = slots.Open(ctx, js, cfg.SlotsConfig(cfg.Budget), log)
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

// newSource returns the configured source, throttled by the fleet-wide
// rate limit when FLEET_SOURCE_RATE sets one: every HTTP attempt of the
// yahoo client (its retries included), every fetch of the synthetic one.
func newSource(ctx context.Context, cfg *config, js jetstream.JetStream, log zerolog.Logger, mx *metrics.Worker) (source.Source, error) {
	rate, _ := cfg.sourceRate() // validated
	var limit source.Waiter
	if rate > 0 {
		l, err := ratelimit.Open(ctx, js, ratelimit.Config{Key: "source." + cfg.Source, Rate: rate, Burst: cfg.SourceBurst,
			Replicas: cfg.StreamReplicas, Name: cfg.WorkerID}, log)
		if err != nil {
			return nil, fmt.Errorf("FLEET_SOURCE_RATE: %w", err)
		}
		limit = timedWaiter{w: l, m: mx}
	}
	if cfg.Source == "yahoo" {
		y, err := yahoo.New(cfg.YahooURL, yahoo.WithHTTPClient(&http.Client{Timeout: cfg.HTTPTimeout}), yahoo.WithLimiter(limit))
		if err != nil {
			return nil, err
		}
		return observedSource(y, mx), nil
	}
	var src source.Source = synthetic.New(synthetic.WithLatency(cfg.SyntheticLatency))
	if limit != nil {
		src = source.Throttled(src, limit)
	}
	return observedSource(src, mx), nil
}
