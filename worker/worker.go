package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/calendar"
	"marketfleet/history"
	"marketfleet/internal/config"
	"marketfleet/internal/rungroup"
	"marketfleet/kinds"
	"marketfleet/metrics"
	"marketfleet/requests"
	"marketfleet/store"
)

// Worker is one worker process's life in the fleet. Create it with New,
// then call Run once (and ServeHTTP, alongside, for the metrics and probes).
type Worker struct {
	cfg     Config
	log     zerolog.Logger
	mx      *metrics.Worker
	health  *health
	hist    *history.Policy // when bars are final, what a history holds
	running atomic.Bool     // Run was called
	peers   atomic.Int64    // the connection budget last known: workers sharing the source's room
	stopped chan struct{}   // closed when Run returns
}

// New returns a Worker for cfg, which it defaults and validates: the error
// is a *config.FieldError naming the field (see Config.Validate), or wraps
// ErrInvalidConfig when Dial is missing. New does no I/O beyond loading
// the NYSE calendar's time zone.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dial == nil {
		return nil, fmt.Errorf("%w: Dial is required", ErrInvalidConfig)
	}
	cal, err := calendar.NewNYSE()
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	hc := cfg.History.historyConfig()
	hc.Calendar = cal
	hist, err := history.New(hc)
	if err != nil {
		return nil, config.In("History", err)
	}
	return &Worker{cfg: cfg, log: cfg.Logger.With().Str("worker", cfg.ID).Logger(), hist: hist,
		mx: metrics.NewWorker(kinds.Names()...), health: &health{}, stopped: make(chan struct{})}, nil
}

// Metrics returns the worker's metrics.
func (w *Worker) Metrics() *metrics.Worker { return w.mx }

// Run connects to NATS, sets up the streams, consumers, dead letters, slot
// table and source, then runs until ctx ends: the member loop (slot,
// session, batches), the dead-letter reaper and the on-demand request
// service, as one run group (every worker serves requests, waiting
// replicas too: they need NATS only). It returns nil when ctx ended, also
// before the work began; otherwise the error that stopped it, naming the
// part that failed. On return the session is closed and the NATS
// connection flushed and closed.
func (w *Worker) Run(ctx context.Context) error {
	w.running.Store(true)
	defer close(w.stopped)
	q, err := w.openQueue(ctx)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	defer q.close()
	w.health.bound.Store(true)
	src, gate, err := w.newSource(ctx, q.js)
	if err != nil {
		return stoppedIsNil(ctx, err)
	}
	svc, err := requests.New(q.nc, requests.Config{Publisher: q.tasks, DeadLetters: q.dead, WorkerID: w.cfg.ID, Logger: w.log,
		RecordRate: w.cfg.RefusedRate,
		Handled:    func(outcome string) { w.mx.Requests.WithLabelValues(outcome).Inc() }})
	if err != nil {
		return err
	}
	m := &member{w: w, q: q, src: src, gate: gate, counts: newTaskCounts(w.cfg.ID), lastBudget: -1}
	return rungroup.Run(ctx,
		rungroup.Actor{Name: "member", Run: m.run},
		rungroup.Actor{Name: "reaper", Run: q.reaper.Run},
		rungroup.Actor{Name: "requests", Run: svc.Run})
}

// ServeHTTP serves /metrics (Prometheus), /healthz (the process serves
// HTTP) and /readyz (it holds a slot and its session, the schema is
// migrated, and it is bound to the consumer) on Config.MetricsAddr until
// Run has returned, so that both stay up while the worker drains; with no
// address it serves nothing and waits as long. A listen failure is
// returned at once, any later failure of the server when it happens: run
// in one group with Run, either stops the worker, saying why.
func (w *Worker) ServeHTTP(ctx context.Context) error {
	if w.cfg.MetricsAddr == "" {
		<-w.runDone(ctx)
		return nil
	}
	ln, err := net.Listen("tcp", w.cfg.MetricsAddr)
	if err != nil {
		return err // "listen tcp :9464: bind: address already in use"
	}
	srv := &http.Server{Handler: w.health.handler(w.mx.Handler(), w.cfg.Pprof), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", w.cfg.MetricsAddr, err)
	case <-w.runDone(ctx):
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", w.cfg.MetricsAddr, err)
	}
	return nil
}

// runDone is closed once Run has returned, or once ctx ends if Run was
// never called.
func (w *Worker) runDone(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-w.stopped:
		case <-ctx.Done():
			if w.running.Load() {
				<-w.stopped
			}
		}
	}()
	return done
}

// Migrate applies the schema migrations cfg's database lacks, through a
// session of its own (application_name marketfleet-migrate: an operator's
// session, like psql, not one of the fleet's), and returns. It is a
// one-shot job: it gives up after cfg.MigrateTimeout with the reason the
// server gave (a wrong role, password or database is not retried forever).
// Stopped by ctx before it connected, it returns nil.
func Migrate(ctx context.Context, cfg Config) error {
	cfg = cfg.WithDefaults()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.MigrateTimeout)
	defer cancel()
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Config{ApplicationName: "marketfleet-migrate", Logger: cfg.Logger})
	if err != nil {
		if parent.Err() != nil {
			return nil
		}
		return fmt.Errorf("migrate: gave up after %s (FLEET_MIGRATE_TIMEOUT): %w", cfg.MigrateTimeout, err)
	}
	_, err = db.Migrate(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if cerr := db.Close(cctx); err == nil && cerr != nil {
		cfg.Logger.Warn().Err(cerr).Msg("closing the migration session")
	}
	return err
}

// stoppedIsNil turns an error caused by the end of ctx into a clean stop.
func stoppedIsNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
