package worker

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/audit"
	"marketfleet/budget"
	"marketfleet/dlq"
	"marketfleet/history"
	"marketfleet/internal/config"
	"marketfleet/queue"
	"marketfleet/ratelimit"
	"marketfleet/requests"
	"marketfleet/runner"
	"marketfleet/slots"
	"marketfleet/source/synthetic"
	"marketfleet/source/yahoo"
	"marketfleet/store"
)

// Dialer opens the worker's NATS connection, retrying until ctx ends, and
// reports the connection's life to hooks. cmd/worker passes one built from
// the environment (URL, credentials, TLS).
type Dialer func(ctx context.Context, hooks NATSHooks) (*nats.Conn, jetstream.JetStream, error)

// NATSHooks are told about the NATS connection's life, for metrics.
type NATSHooks struct {
	// Connected is called with true on connect and reconnect, false on a
	// disconnect.
	Connected func(up bool)
	// Reconnected is called after each reconnection.
	Reconnected func()
}

// Config is one worker's whole configuration. Zero fields take the
// defaults documented on each (WithDefaults); Dial is required. The
// components' own configurations are nested where the worker passes them
// on as they are.
type Config struct {
	// ID names the worker in logs, dead letters and its session's
	// application_name ("marketfleet-worker/<ID>"), which must be unique
	// in the fleet: 1-44 letters, digits, '.', '_' or '-'. Defaults to
	// <hostname>-<pid> (its last 44 characters).
	ID string
	// DatabaseURL is the PostgreSQL URL or DSN of the worker's one session;
	// it is never logged. Defaults to DefaultDatabaseURL.
	DatabaseURL string
	// DBPooler names the transaction-mode pooler DatabaseURL goes through:
	// "" (none: the worker holds a PostgreSQL session of its own) or
	// "pgbouncer". Behind one, the series locks are NATS KV leases (package
	// leases) instead of session-level advisory locks, statements are sent
	// without prepared statements, and each transaction sets its own
	// timeouts (store.Config.Pooler). Defaults to "".
	DBPooler string
	// DBPoolSize is, behind a pooler, the server connections it keeps for
	// the fleet's database and user (PgBouncer's pool_size): the fleet
	// never runs more transactions at once, so the budget is capped by it.
	// Defaults to 0: not capped (the budget from the server alone).
	DBPoolSize int
	// StatementTimeout is the server-side limit on one SQL statement
	// (SQLSTATE 57014, retried). Defaults to store.DefaultStatementTimeout.
	StatementTimeout time.Duration
	// Replicas is the replication factor of every stream and KV bucket the
	// fleet uses (tasks, dead letters, advisories, slots, rate limits): 1
	// on one server, 3 in a production cluster, 1..5. It overrides the
	// Replicas of Stream, DLQ and Slots. Defaults to 1.
	Replicas int
	// Stream is the task stream; producers and workers must agree on it.
	Stream queue.StreamConfig
	// Consumer is the durable pull consumer the fleet shares; the
	// consumer of high-priority tasks has the same settings and the name
	// Consumer.Name + "-priority". Consumer.Priority is ignored.
	Consumer queue.ConsumerConfig
	// Fetcher is the batch size and how long a pull waits.
	Fetcher queue.FetcherConfig
	// Runner tunes the batch pipeline.
	Runner runner.Tuning
	// DLQ is the dead-letter stream.
	DLQ dlq.Config
	// Slots is the connection slot table.
	Slots slots.Config
	// Budget is the connection budget's arithmetic. Budget.Reserve has no
	// default here (0 keeps nothing back); the commands default it to
	// budget.DefaultReserve.
	Budget budget.Config
	// Source is where the bars come from.
	Source SourceConfig
	// History is when bars are final and how often the holder of slot 0
	// audits the history.
	History HistoryConfig
	// RefusedRate is how many refused on-demand requests per second one
	// sender may have recorded (requests.Config.RecordRate). Defaults to
	// requests.DefaultRecordRate.
	RefusedRate float64
	// SkipFeatures stops collect tasks from enqueueing features tasks.
	// Defaults to false: a collection that stored new bars enqueues one.
	SkipFeatures bool
	// SkipMigrate stops the worker from applying missing schema migrations
	// at start. Defaults to false: it applies them, under a lock.
	SkipMigrate bool
	// MigrateTimeout bounds Migrate, the one-shot `worker migrate`: to
	// connect (retrying refusals), wait for the migration lock and apply.
	// Defaults to DefaultMigrateTimeout.
	MigrateTimeout time.Duration
	// MetricsAddr is the address ServeHTTP listens on for /metrics,
	// /healthz and /readyz, such as ":9464". Defaults to "": none.
	MetricsAddr string
	// Pprof also serves Go's profiles (/debug/pprof/) on MetricsAddr, for
	// an operator or the benchmark to see where a worker's CPU goes.
	// Defaults to false: the address serves no profiles.
	Pprof bool
	// Dial opens the NATS connection. Required.
	Dial Dialer
	// Faults are test-only pause points. Defaults to none.
	Faults runner.Faults
	// Logger receives the worker's events, with the field worker=<ID>
	// added. Defaults to none.
	Logger zerolog.Logger
}

// SourceConfig says where bars come from and how fast the fleet may ask.
type SourceConfig struct {
	// Name is "synthetic" (offline, deterministic) or "yahoo". Defaults to
	// "synthetic".
	Name string
	// Yahoo configures the yahoo source (BaseURL, Timeout, ...); the worker
	// sets its Limiter.
	Yahoo yahoo.Config
	// Synthetic configures the synthetic source.
	Synthetic synthetic.Config
	// Rate is how many requests per second the whole fleet may send to the
	// source, shared through NATS KV: "auto" (DefaultYahooRate for yahoo,
	// unlimited for synthetic), "0" (unlimited) or a number up to
	// ratelimit.MaxRate. Defaults to "auto".
	Rate string
	// Burst is how many requests may go back to back after a pause; 0: the
	// rate, rounded up.
	Burst int
	// MaxWait, BreakAfter and Cooldown tune the fleet's limiter
	// (ratelimit.Config): the longest a request waits for the rate in the
	// worker before its task goes back to the queue, how long the source
	// must keep failing before the breaker opens, and its first cool-down.
	// Default to ratelimit.DefaultMaxWait, DefaultBreakAfter and
	// DefaultCooldown (10s, 30s, 30s).
	MaxWait, BreakAfter, Cooldown time.Duration
	// TaskDeadline bounds the source's time for one collect task
	// (kinds.Config.Deadline: its requests, retries and Retry-After waits,
	// not its waits for the fleet's rate limit). Defaults to 30s; at least
	// 100ms.
	TaskDeadline time.Duration
}

// HistoryConfig is when stored bars are final (package history) and the
// periodic audit (package audit).
type HistoryConfig struct {
	// SettleSessions is how many sessions must close after a daily or
	// longer bar's before it is final (Yahoo revises a day's volume for a
	// day or two), up to history.MaxSettleSessions. Defaults to
	// history.DefaultSettleSessions (2); negative: none, a daily bar is
	// final at its session's close.
	SettleSessions int
	// SettleIntraday is how long after its end an intraday bar is final.
	// Defaults to 0.
	SettleIntraday time.Duration
	// AuditEvery is how often the holder of slot 0 audits the whole
	// history and enqueues repairs for its gaps, counted from the last
	// audit anyone recorded. Negative: never. Defaults to
	// DefaultAuditEvery.
	AuditEvery time.Duration
	// AuditGrace is how long a repaired gap may still be found before it
	// counts as persisting. Defaults to audit.DefaultGrace.
	AuditGrace time.Duration
}

// DefaultAuditEvery is HistoryConfig.AuditEvery's default.
const DefaultAuditEvery = 24 * time.Hour

// PoolerPgBouncer is Config.DBPooler for PgBouncer in transaction mode.
const PoolerPgBouncer = "pgbouncer"

// DefaultMigrateTimeout is Config.MigrateTimeout's default.
const DefaultMigrateTimeout = 2 * time.Minute

// DefaultDatabaseURL is Config.DatabaseURL's default: a local server.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres"

// DefaultYahooRate is the fleet-wide rate SourceConfig.Rate "auto" means
// for the yahoo source: well under what Yahoo tolerates from one client.
const DefaultYahooRate = 5

// Source names.
const (
	SourceSynthetic = "synthetic"
	SourceYahoo     = "yahoo"
)

// idRE is the shape of a worker id.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,43}$`)

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
		c.ID = c.ID[max(0, len(c.ID)-44):]
	}
	c.DatabaseURL = cmp.Or(c.DatabaseURL, DefaultDatabaseURL)
	c.StatementTimeout = cmp.Or(c.StatementTimeout, store.DefaultStatementTimeout)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.Stream = c.Stream.WithDefaults()
	c.Consumer = c.Consumer.WithDefaults()
	c.Fetcher = c.Fetcher.WithDefaults()
	c.Runner = c.Runner.WithDefaults()
	c.DLQ = c.DLQ.WithDefaults()
	c.Slots = c.Slots.WithDefaults()
	c.Budget = c.Budget.WithDefaults()
	c.Source.Name = cmp.Or(c.Source.Name, SourceSynthetic)
	c.Source.Yahoo = c.Source.Yahoo.WithDefaults()
	c.Source.Rate = cmp.Or(c.Source.Rate, "auto")
	c.Source.MaxWait = cmp.Or(c.Source.MaxWait, ratelimit.DefaultMaxWait)
	c.Source.BreakAfter = cmp.Or(c.Source.BreakAfter, ratelimit.DefaultBreakAfter)
	c.Source.Cooldown = cmp.Or(c.Source.Cooldown, ratelimit.DefaultCooldown)
	c.Source.TaskDeadline = cmp.Or(c.Source.TaskDeadline, 30*time.Second)
	c.History.AuditEvery = cmp.Or(c.History.AuditEvery, DefaultAuditEvery)
	c.History.AuditGrace = cmp.Or(c.History.AuditGrace, audit.DefaultGrace)
	c.RefusedRate = cmp.Or(c.RefusedRate, requests.DefaultRecordRate)
	c.MigrateTimeout = cmp.Or(c.MigrateTimeout, DefaultMigrateTimeout)
	return c
}

// Validate checks c (after WithDefaults); the error is a
// *config.FieldError wrapping the failing component's ErrInvalidConfig,
// whose Field is the path from Config ("Fetcher.Size").
func (c Config) Validate() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	}
	checks := []struct {
		field string
		err   error
	}{
		{"Stream", c.StreamConfig().Validate()},
		{"Consumer", c.Consumer.Validate()},
		{"Fetcher", c.Fetcher.Validate()},
		{"Runner", c.Runner.Validate()},
		{"DLQ", c.DLQConfig().Validate()},
		{"Slots", c.SlotsConfig().Validate()},
		{"Budget", c.Budget.Validate()},
		{"Source", c.Source.validate()},
		{"History", c.History.validate()},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return config.In(ch.field, ch.err)
		}
	}
	switch {
	case !idRE.MatchString(c.ID):
		return config.Invalid(ErrInvalidConfig, "ID", c.ID, "want 1-44 letters, digits, '.', '_' or '-'")
	case c.DatabaseURL == "":
		return config.Invalid(ErrInvalidConfig, "DatabaseURL", c.DatabaseURL, "want a PostgreSQL URL or DSN")
	case c.DBPooler != "" && c.DBPooler != PoolerPgBouncer:
		return config.Invalid(ErrInvalidConfig, "DBPooler", c.DBPooler, "want %s, or nothing for a direct connection", PoolerPgBouncer)
	case c.DBPoolSize < 0:
		return config.Invalid(ErrInvalidConfig, "DBPoolSize", c.DBPoolSize, "want >= 0")
	case c.DLQ.Name == c.Stream.Name:
		return config.Invalid(ErrInvalidConfig, "DLQ.Name", c.DLQ.Name, "want another stream than the tasks'")
	case c.DLQ.RefusedName == c.Stream.Name:
		return config.Invalid(ErrInvalidConfig, "DLQ.RefusedName", c.DLQ.RefusedName, "want another stream than the tasks'")
	case c.MigrateTimeout < time.Second:
		return config.Invalid(ErrInvalidConfig, "MigrateTimeout", c.MigrateTimeout, "want at least 1s")
	case !(c.RefusedRate >= 0.01 && c.RefusedRate <= 1000):
		return config.Invalid(ErrInvalidConfig, "RefusedRate", c.RefusedRate, "want 0.01 to 1000 per second")
	case c.Consumer.MaxAckPending < c.Fetcher.Size:
		return config.Invalid(ErrInvalidConfig, "Consumer.MaxAckPending", c.Consumer.MaxAckPending,
			"want at least the batch size (%d)", c.Fetcher.Size)
	case c.Runner.Grace <= c.Fetcher.MaxWait:
		return config.Invalid(ErrInvalidConfig, "Runner.Grace", c.Runner.Grace,
			"want more than the pull wait (%s), which the shutdown waits out", c.Fetcher.MaxWait)
	}
	if _, err := store.Identity(c.DatabaseURL); err != nil {
		// The error never quotes the string, which may hold a password.
		return config.Invalid(ErrInvalidConfig, "DatabaseURL", "(not shown)", "%v", err)
	}
	sc := store.Config{}.WithDefaults()
	sc.StatementTimeout = c.StatementTimeout
	return sc.Validate()
}

func (h HistoryConfig) validate() error {
	if h.AuditGrace < 0 {
		return config.Invalid(ErrInvalidConfig, "AuditGrace", h.AuditGrace, "want >= 0")
	}
	return h.historyConfig().Validate()
}

// historyConfig is h as package history takes it (without its calendar).
func (h HistoryConfig) historyConfig() history.Config {
	c := history.Config{SettleIntraday: h.SettleIntraday}
	if h.SettleSessions != 0 {
		n := max(h.SettleSessions, 0)
		c.SettleSessions = &n
	}
	return c
}

func (s SourceConfig) validate() error {
	if s.Name != SourceSynthetic && s.Name != SourceYahoo {
		return config.Invalid(ErrInvalidConfig, "Name", s.Name, "want %s or %s", SourceSynthetic, SourceYahoo)
	}
	if err := s.Synthetic.Validate(); err != nil {
		return config.In("Synthetic", err)
	}
	if err := s.Yahoo.Validate(); err != nil {
		return config.In("Yahoo", err)
	}
	if _, err := s.rate(); err != nil {
		return err
	}
	if s.TaskDeadline < 100*time.Millisecond {
		return config.Invalid(ErrInvalidConfig, "TaskDeadline", s.TaskDeadline, "want at least 100ms")
	}
	if s.Burst < 0 {
		return config.Invalid(ErrInvalidConfig, "Burst", s.Burst, "want >= 0 (0: the rate, rounded up)")
	}
	switch {
	case s.MaxWait < 100*time.Millisecond:
		return config.Invalid(ErrInvalidConfig, "MaxWait", s.MaxWait, "want at least 100ms")
	case s.BreakAfter < time.Second:
		return config.Invalid(ErrInvalidConfig, "BreakAfter", s.BreakAfter, "want at least 1s")
	case s.Cooldown < time.Second || s.Cooldown > ratelimit.MaxCooldown:
		return config.Invalid(ErrInvalidConfig, "Cooldown", s.Cooldown, "want 1s..%s", ratelimit.MaxCooldown)
	}
	return nil
}

// rate is Rate in requests per second, 0 for unlimited.
func (s SourceConfig) rate() (float64, error) {
	if s.Rate == "auto" {
		if s.Name == SourceYahoo {
			return DefaultYahooRate, nil
		}
		return 0, nil
	}
	r, err := strconv.ParseFloat(s.Rate, 64)
	if err != nil || r < 0 || r > ratelimit.MaxRate || math.IsNaN(r) {
		return 0, config.Invalid(ErrInvalidConfig, "Rate", s.Rate, "want auto, 0 (unlimited) or requests per second up to %g", ratelimit.MaxRate)
	}
	return r, nil
}

// StreamConfig is the task stream's configuration, with the fleet's
// replication factor: what producers and workers ensure.
func (c Config) StreamConfig() queue.StreamConfig {
	s := c.Stream
	s.Replicas = c.Replicas
	return s
}

// DLQConfig is the dead-letter stream's configuration, with the fleet's
// replication factor.
func (c Config) DLQConfig() dlq.Config {
	d := c.DLQ
	d.Replicas = c.Replicas
	return d
}

// deadLetterLabel is the stream label of the dead-letter metrics: "tasks"
// for the dead-letter stream, "requests" for the refused-request one.
func (c Config) deadLetterLabel(stream string) string {
	if stream == c.DLQ.RefusedName {
		return "requests"
	}
	return "tasks"
}

// budgetConfig is the budget's arithmetic: behind a pooler, capped by its
// pool size when one is given.
func (c Config) budgetConfig() budget.Config {
	b := c.Budget
	if c.DBPooler != "" && c.DBPoolSize > 0 && (b.Cap == 0 || c.DBPoolSize < b.Cap) {
		b.Cap = c.DBPoolSize
	}
	return b
}

// SlotsConfig is the slot table's configuration, with the fleet's
// replication factor, the worker's logger, and the identity of its
// database (whose budget it publishes and reads).
func (c Config) SlotsConfig() slots.Config {
	s := c.Slots
	s.Replicas, s.Logger = c.Replicas, c.Logger
	s.Database, _ = store.Identity(c.DatabaseURL) // an unparseable URL fails Validate first
	return s
}

// appName is the worker's application_name in pg_stat_activity.
func (c Config) appName() string { return budget.DefaultFleetPrefix + c.ID }

// priorityConsumer is the consumer of high-priority tasks.
func (c Config) priorityConsumer() queue.ConsumerConfig {
	p := c.Consumer
	p.Name, p.Priority = c.Consumer.Name+"-priority", true
	return p
}
