package requests

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"marketfleet/dlq"
	"marketfleet/internal/config"
	"marketfleet/queue"
)

// Names on the wire.
const (
	// Subject is where collection requests are sent.
	Subject = "marketfleet.request.collect"
	// QueueGroup is the Service's queue group: each request goes to exactly
	// one subscribed process.
	QueueGroup = "marketfleet-requests"
)

// Defaults of Config.
const (
	DefaultConcurrency = 16
	DefaultMaxPending  = 256
	DefaultTimeout     = 15 * time.Second
	DefaultGrace       = 10 * time.Second
	DefaultWorkerID    = "requests"
)

// Config configures a Service. Zero fields take the defaults documented on
// each; Publisher and DeadLetters are required.
type Config struct {
	// Publisher enqueues the tasks, on its own stream (queue.NewPublisher).
	Publisher *queue.Publisher
	// DeadLetters stores invalid requests (dlq.Writer.WriteRequest).
	DeadLetters *dlq.Writer
	// WorkerID names this process in dead letters. Defaults to
	// DefaultWorkerID.
	WorkerID string
	// Limits bound one request; see Limits for their defaults.
	Limits Limits
	// RecordRate is how many refused requests per second one sender (see
	// Sender) may have recorded in the refused-request stream, with bursts
	// of ten times that; the whole process records at most ten senders'
	// worth. Refused requests beyond it are answered and counted
	// ("unrecorded"), not recorded. Defaults to DefaultRecordRate (1/s);
	// 0.01 to 1000.
	RecordRate float64
	// Concurrency bounds the requests handled at once. Defaults to
	// DefaultConcurrency (16); 1 to 1024.
	Concurrency int
	// MaxPending bounds the requests received but not yet started; beyond
	// it (or beyond MaxPending*Limits.MaxRequestBytes bytes) the client
	// library drops them as a slow consumer and reports that to the
	// connection's error handler. Defaults to DefaultMaxPending (256).
	MaxPending int
	// Timeout bounds the handling of one request: publishing its tasks or
	// writing its dead letter. Defaults to DefaultTimeout (15s).
	Timeout time.Duration
	// Grace bounds how long Run, once its context ends, waits for the
	// requests already received to be started; those it drops time out at
	// the requester. The requests started then finish within Timeout, so
	// Run returns at most Grace+Timeout after its context ends. Defaults to
	// DefaultGrace (10s).
	Grace time.Duration
	// Logger receives one line per request. Defaults to none.
	Logger zerolog.Logger
	// Now is the clock that stamps tasks and ends relative ranges.
	// Defaults to time.Now.
	Now func() time.Time
	// Handled, if set, is told the outcome of every request: "accepted",
	// "invalid", "unrecorded" (invalid, and over RecordRate) or "failed"
	// (not published), for a metric.
	Handled func(outcome string)
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Limits = c.Limits.WithDefaults()
	c.WorkerID = cmp.Or(c.WorkerID, DefaultWorkerID)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Grace = cmp.Or(c.Grace, DefaultGrace)
	c.RecordRate = cmp.Or(c.RecordRate, DefaultRecordRate)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks c (after WithDefaults); the error wraps ErrInvalidConfig
// (a *config.FieldError for a bad field).
func (c Config) Validate() error {
	switch {
	case c.Publisher == nil || c.DeadLetters == nil:
		return fmt.Errorf("%w: publisher and dead-letter writer are required", ErrInvalidConfig)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return config.Invalid(ErrInvalidConfig, "Concurrency", c.Concurrency, "want 1 to 1024")
	case c.MaxPending < 1:
		return config.Invalid(ErrInvalidConfig, "MaxPending", c.MaxPending, "want at least 1")
	case c.Timeout < time.Second:
		return config.Invalid(ErrInvalidConfig, "Timeout", c.Timeout, "want at least 1s")
	case c.Grace <= 0:
		return config.Invalid(ErrInvalidConfig, "Grace", c.Grace, "want > 0")
	case !(c.RecordRate >= 0.01 && c.RecordRate <= 1000):
		return config.Invalid(ErrInvalidConfig, "RecordRate", c.RecordRate, "want 0.01 to 1000 per second")
	}
	return config.In("Limits", c.Limits.Validate())
}

// Service answers collection requests on Subject. Create it with New and
// call Run once. It uses the connection it is given and opens none.
type Service struct {
	nc    *nats.Conn
	cfg   Config
	log   zerolog.Logger
	sem   chan struct{}
	track tracker
	ready chan struct{}
	kept  *recordLimiter
}

// New returns a Service that takes requests on nc. It returns an error
// wrapping ErrInvalidConfig when nc is nil or cfg is invalid.
func New(nc *nats.Conn, cfg Config) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, fmt.Errorf("%w: a NATS connection is required", ErrInvalidConfig)
	}
	return &Service{nc: nc, cfg: cfg, log: cfg.Logger, sem: make(chan struct{}, cfg.Concurrency),
		ready: make(chan struct{}), kept: newRecordLimiter(cfg.RecordRate, cfg.Now)}, nil
}

// Ready is closed once Run's subscription is registered with the server.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run subscribes to Subject in QueueGroup and handles requests until ctx
// ends; then it drains the subscription, finishes the requests already
// received (see Config.Grace) and returns nil. It returns an error
// if it cannot subscribe, or one wrapping nats.ErrConnectionClosed if the
// connection is closed under it before ctx ends.
func (s *Service) Run(ctx context.Context) error {
	sub, closed, err := s.subscribe(ctx)
	if err != nil {
		return err
	}
	s.log.Info().Str("subject", Subject).Str("queue_group", QueueGroup).Msg("taking collection requests")
	select {
	case <-ctx.Done():
		s.drain(sub, closed)
	case <-closed:
	}
	s.track.closeAndWait()
	if ctx.Err() == nil {
		return fmt.Errorf("requests: subscription to %s closed: %w", Subject, nats.ErrConnectionClosed)
	}
	s.log.Info().Msg("collection requests stopped")
	return nil
}

// subscribe subscribes, bounds the subscription's pending queue and waits
// until the server has registered it. The channel it returns is closed once
// the subscription is closed and its last callback has returned.
func (s *Service) subscribe(ctx context.Context) (*nats.Subscription, <-chan struct{}, error) {
	sub, err := s.nc.QueueSubscribe(Subject, QueueGroup, func(m *nats.Msg) { s.dispatch(ctx, m) })
	if err != nil {
		return nil, nil, fmt.Errorf("requests: subscribe %s: %w", Subject, err)
	}
	closed := make(chan struct{})
	var once sync.Once
	markClosed := func(string) { once.Do(func() { close(closed) }) }
	sub.SetClosedHandler(markClosed)
	if !sub.IsValid() { // closed before the handler was set
		markClosed(Subject)
	}
	err = sub.SetPendingLimits(s.cfg.MaxPending, s.cfg.MaxPending*s.cfg.Limits.MaxRequestBytes)
	if err == nil {
		err = s.nc.Flush()
	}
	if err != nil {
		_ = sub.Unsubscribe()
		s.track.closeAndWait()
		return nil, nil, fmt.Errorf("requests: subscribe %s: %w", Subject, err)
	}
	close(s.ready)
	return sub, closed, nil
}

// drain stops new requests from arriving and waits, at most Grace, until
// those received have been started.
func (s *Service) drain(sub *nats.Subscription, closed <-chan struct{}) {
	if err := sub.Drain(); err != nil {
		s.log.Warn().Err(err).Msg("drain collection requests")
		_ = sub.Unsubscribe()
		return
	}
	t := time.NewTimer(s.cfg.Grace)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		s.log.Warn().Stringer("grace", s.cfg.Grace).Msg("collection requests still pending after the grace period: dropping them")
		_ = sub.Unsubscribe()
	}
}

// dispatch runs on the subscription's delivery goroutine (never the
// connection's read loop): it waits for a free slot and hands m over.
// Requests are handled under their own deadline, not ctx, so that those
// received before shutdown are finished.
func (s *Service) dispatch(ctx context.Context, m *nats.Msg) {
	if !s.track.add() {
		return // Run has returned: the requester times out and may resend
	}
	s.sem <- struct{}{}
	go func() {
		defer s.track.done()
		defer func() { <-s.sem }()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		defer cancel()
		s.handle(hctx, m)
	}()
}

// tracker counts the requests in hand; once closed it takes no more, so that
// its wait group is never added to while Run waits on it.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) done() { t.wg.Done() }

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}
