package main

import (
	"fmt"
	"io"
	"time"

	"marketfleet/cmd/internal/cli"
	"marketfleet/market"
	"marketfleet/worker"
)

// env is every variable the worker reads. The variables bound to
// worker.Config (pointers, cli.Not) take their defaults and limits from the
// library; the rest are the command's own.
type env struct {
	cli.Fleet
	cli.Budget
	cli.Workers
	WorkerID         *string         `envconfig:"FLEET_WORKER_ID" desc:"worker name in logs and application_name marketfleet-worker/<id>, unique in the fleet"`
	BatchSize        *int            `envconfig:"FLEET_BATCH_SIZE" desc:"tasks per batch (1..1000); one transaction per batch; up to FLEET_PIPELINE+1 batches in flight per worker"`
	FetchConcurrency *int            `envconfig:"FLEET_FETCH_CONCURRENCY" desc:"concurrent source requests per worker, across its batches in flight (1..1000)"`
	Pipeline         *int            `envconfig:"FLEET_PIPELINE" desc:"batches a worker has begun (fetching) before it writes the oldest (1..8; 1: one batch at a time); one more may be being acknowledged"`
	FetchWait        *time.Duration  `envconfig:"FLEET_FETCH_WAIT" desc:"how long one pull waits on an empty queue (100ms..1m)"`
	AckWait          *time.Duration  `envconfig:"FLEET_ACK_WAIT" desc:"time before an unacknowledged task is redelivered (InProgress extends it)"`
	MaxDeliver       *int            `envconfig:"FLEET_MAX_DELIVER" desc:"deliveries of one task before it is dead-lettered as exhausted"`
	MaxAckPending    *int            `envconfig:"FLEET_MAX_ACK_PENDING" desc:"unacknowledged tasks allowed across the whole fleet; keep it above replicas x (FLEET_PIPELINE+1) x FLEET_BATCH_SIZE"`
	Source           *string         `envconfig:"FLEET_SOURCE" desc:"market data source: synthetic (offline) or yahoo"`
	YahooURL         *string         `envconfig:"FLEET_YAHOO_URL" desc:"base URL of the Yahoo chart API"`
	SourceRate       *string         `envconfig:"FLEET_SOURCE_RATE" desc:"requests per second the whole fleet may send to the source, shared through NATS KV; auto: 5 for yahoo, unlimited for synthetic; 0: unlimited"`
	SourceBurst      *int            `envconfig:"FLEET_SOURCE_BURST" desc:"requests that may go back to back after a pause (0: the rate, rounded up)"`
	SourceMaxWait    *time.Duration  `envconfig:"FLEET_SOURCE_MAX_WAIT" desc:"longest a source request waits for the fleet's rate inside a worker; a longer wait sends its task back to the queue (NakWithDelay), and workers take no more tasks than could go within it"`
	BreakAfter       *time.Duration  `envconfig:"FLEET_SOURCE_BREAK_AFTER" desc:"how long the source must keep failing (HTTP 429, 5xx, network errors) with no success before the fleet's breaker opens and stops asking it"`
	Cooldown         *time.Duration  `envconfig:"FLEET_SOURCE_COOLDOWN" desc:"first cool-down of the breaker; it doubles with each reopening of the same run of failures (up to 10m)"`
	HTTPTimeout      *time.Duration  `envconfig:"FLEET_HTTP_TIMEOUT" desc:"timeout of one source HTTP request"`
	SyntheticLatency *time.Duration  `envconfig:"FLEET_SYNTHETIC_LATENCY" desc:"simulated fetch latency of the synthetic source"`
	SyntheticActions *market.Actions `envconfig:"FLEET_SYNTHETIC_ACTIONS" desc:"corporate actions the synthetic source reports, e.g. AAPL:split:2020-08-31:4:1,MSFT:dividend:2024-05-15:0.75 (comma-separated SYMBOL:split:DATE:N:D or SYMBOL:dividend|capital_gain:DATE:AMOUNT)"`
	RetryBase        *time.Duration  `envconfig:"FLEET_RETRY_BASE" desc:"delay before the first retry of a failed task; doubles per delivery, with jitter"`
	RetryMax         *time.Duration  `envconfig:"FLEET_RETRY_MAX" desc:"longest delay between retries of a task; a source's longer Retry-After is cut to it and counts as a failed delivery"`
	StatementTimeout *time.Duration  `envconfig:"FLEET_STATEMENT_TIMEOUT" desc:"server-side limit on one SQL statement (SQLSTATE 57014, retried); negative: the server's own"`
	TaskDeadline     *time.Duration  `envconfig:"FLEET_TASK_DEADLINE" desc:"longest the source may take for one task (its requests, retries and Retry-After waits; waits for the fleet's rate limit do not count); a task past it is retried on its own, and its batch is committed without it"`
	WriteTimeout     *time.Duration  `envconfig:"FLEET_WRITE_TIMEOUT" desc:"client-side limit on one batch write (and on each features task's own); on expiry the session is replaced and the batch replayed"`
	ShutdownGrace    *time.Duration  `envconfig:"FLEET_SHUTDOWN_GRACE" desc:"on SIGTERM, time allowed to finish the batches in hand (more than FLEET_FETCH_WAIT)"`
	Features         cli.Not         `envconfig:"FLEET_FEATURES" desc:"after a collection stored new bars, enqueue a features task for that symbol and interval"`
	DBPooler         *string         `envconfig:"FLEET_DB_POOLER" desc:"pgbouncer when DATABASE_URL goes through PgBouncer in transaction mode (series locks become NATS KV leases, no prepared statements, timeouts per transaction); empty: a direct connection"`
	DBPoolSize       *int            `envconfig:"FLEET_DB_POOL_SIZE" desc:"behind a pooler (FLEET_DB_POOLER), its pool_size for the fleet's database and user: the budget is capped by it (0: not capped)"`
	MigrateTimeout   *time.Duration  `envconfig:"FLEET_MIGRATE_TIMEOUT" desc:"worker migrate gives up after this long (connecting, waiting for the lock, applying) and exits 1 with the server's reason"`
	AutoMigrate      cli.Not         `envconfig:"FLEET_AUTO_MIGRATE" desc:"apply missing schema migrations at start (under a lock)"`
	MetricsAddr      *string         `envconfig:"FLEET_METRICS_ADDR" desc:"address for /metrics (Prometheus), /healthz and /readyz, e.g. :9464 (default: off)"`
	Pprof            *bool           `envconfig:"FLEET_PPROF" desc:"also serve Go's profiles (/debug/pprof/) on FLEET_METRICS_ADDR; keep that address private"`
	SettleSessions   *int            `envconfig:"FLEET_SETTLE_SESSIONS" desc:"sessions that must close after a daily (or longer) bar's before it is final; provisional bars are re-collected until then (up to 20; default 2; negative: final at the close)"`
	SettleIntraday   *time.Duration  `envconfig:"FLEET_SETTLE_INTRADAY" desc:"how long after its end an intraday bar is final"`
	AuditEvery       *time.Duration  `envconfig:"FLEET_AUDIT_EVERY" desc:"how often the worker holding slot 0 audits the whole history and enqueues repairs for its gaps (since the last audit anyone recorded); negative: never"`
	AuditGrace       *time.Duration  `envconfig:"FLEET_AUDIT_GRACE" desc:"how long after its repair was asked for a gap still found counts as persisting (fleetctl status WARN, alert MarketfleetGapsPersist)"`
	RefusedRate      *float64        `envconfig:"FLEET_REFUSED_RATE" desc:"refused on-demand requests per second one sender may have recorded (bursts of 10x; each worker records at most 10 senders' worth); the rest are answered, counted, not recorded"`
	GCPercent        int             `envconfig:"FLEET_GC_PERCENT" default:"200" desc:"Go garbage collector target, as GOGC (25..1000); 200 does about half the collection work of Go's 100 for a few MB more heap"`
}

// newEnv returns the worker's variables, bound to the fields of e.Config
// they set, which holds the library's defaults.
func newEnv() *env {
	e := &env{}
	e.Defaults()
	c := &e.Config
	e.Budget, e.Workers = cli.BindBudget(&c.Budget, &c.Slots), cli.BindWorkers(c)
	e.WorkerID, e.StatementTimeout, e.MetricsAddr, e.Pprof = &c.ID, &c.StatementTimeout, &c.MetricsAddr, &c.Pprof
	e.BatchSize, e.FetchWait = &c.Fetcher.Size, &c.Fetcher.MaxWait
	e.AckWait, e.MaxDeliver, e.MaxAckPending = &c.Consumer.AckWait, &c.Consumer.MaxDeliver, &c.Consumer.MaxAckPending
	e.FetchConcurrency, e.Pipeline, e.WriteTimeout, e.ShutdownGrace = &c.Runner.FetchConcurrency, &c.Runner.Pipeline, &c.Runner.WriteTimeout, &c.Runner.Grace
	e.RetryBase, e.RetryMax = &c.Runner.Retry.Base, &c.Runner.Retry.Max
	e.Source, e.SourceRate, e.SourceBurst = &c.Source.Name, &c.Source.Rate, &c.Source.Burst
	e.YahooURL, e.HTTPTimeout, e.SyntheticLatency = &c.Source.Yahoo.BaseURL, &c.Source.Yahoo.Timeout, &c.Source.Synthetic.Latency
	e.SyntheticActions = &c.Source.Synthetic.Actions
	e.SourceMaxWait, e.BreakAfter, e.Cooldown = &c.Source.MaxWait, &c.Source.BreakAfter, &c.Source.Cooldown
	e.SettleSessions, e.SettleIntraday = &c.History.SettleSessions, &c.History.SettleIntraday
	e.AuditEvery, e.AuditGrace = &c.History.AuditEvery, &c.History.AuditGrace
	e.RefusedRate, e.MigrateTimeout, e.TaskDeadline = &c.RefusedRate, &c.MigrateTimeout, &c.Source.TaskDeadline
	e.DBPooler, e.DBPoolSize = &c.DBPooler, &c.DBPoolSize
	e.Features, e.AutoMigrate = cli.Not{P: &c.SkipFeatures}, cli.Not{P: &c.SkipMigrate}
	return e
}

// Validate checks the command's own variables; errors name the variable.
func (e *env) Validate() error {
	if e.GCPercent < 25 || e.GCPercent > 1000 {
		return fmt.Errorf("FLEET_GC_PERCENT=%d: want 25..1000", e.GCPercent)
	}
	return e.Common.Validate()
}

// load reads the environment onto the worker's configuration, which starts
// from the library's defaults. The error names the variable.
func load() (worker.Config, *env, error) {
	e := newEnv()
	err := cli.LoadFleet(e, &e.Fleet)
	return e.Config, e, err
}

// printEnv prints every variable with its default.
func printEnv(w io.Writer) error {
	e := newEnv()
	e.Config.ID = "<hostname>-<pid>"
	return cli.PrintEnv(w, e)
}
