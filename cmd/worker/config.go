package main

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"time"

	"marketfleet/cmd/internal/cli"
	"marketfleet/queue"
	"marketfleet/ratelimit"
)

// config is everything the worker reads from the environment.
type config struct {
	cli.Common
	cli.Budget
	DatabaseURL      string        `envconfig:"DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/postgres" desc:"PostgreSQL connection URL or DSN; the worker opens exactly one session"`
	WorkerID         string        `envconfig:"FLEET_WORKER_ID" desc:"worker name in logs and application_name marketfleet-worker/<id> (default <hostname>-<pid>)"`
	BatchSize        int           `envconfig:"FLEET_BATCH_SIZE" default:"20" desc:"tasks per batch (1..1000); one transaction per batch; up to 3 batches in flight per worker"`
	FetchConcurrency int           `envconfig:"FLEET_FETCH_CONCURRENCY" default:"20" desc:"concurrent source requests per worker, across its batches in flight"`
	Pipeline         int           `envconfig:"FLEET_PIPELINE" default:"2" desc:"batches a worker has begun (fetching) before it writes the oldest (1..8; 1: one batch at a time); one more may be being acknowledged"`
	FetchWait        time.Duration `envconfig:"FLEET_FETCH_WAIT" default:"1s" desc:"how long one pull waits on an empty queue"`
	Consumer         string        `envconfig:"FLEET_CONSUMER" default:"marketfleet-workers" desc:"durable pull consumer shared by the fleet"`
	AckWait          time.Duration `envconfig:"FLEET_ACK_WAIT" default:"30s" desc:"time before an unacknowledged task is redelivered (InProgress extends it)"`
	MaxDeliver       int           `envconfig:"FLEET_MAX_DELIVER" default:"10" desc:"deliveries of one task before JetStream gives up on it"`
	MaxAckPending    int           `envconfig:"FLEET_MAX_ACK_PENDING" default:"5000" desc:"unacknowledged tasks allowed across the whole fleet (a worker holds up to 3 x FLEET_BATCH_SIZE)"`
	Source           string        `envconfig:"FLEET_SOURCE" default:"synthetic" desc:"market data source: synthetic (offline) or yahoo"`
	YahooURL         string        `envconfig:"FLEET_YAHOO_URL" default:"https://query1.finance.yahoo.com" desc:"base URL of the Yahoo chart API"`
	SourceRate       string        `envconfig:"FLEET_SOURCE_RATE" default:"auto" desc:"requests per second the whole fleet may send to the source, shared through NATS KV; auto: 5 for yahoo, unlimited for synthetic; 0: unlimited"`
	SourceBurst      int           `envconfig:"FLEET_SOURCE_BURST" default:"0" desc:"requests that may go back to back after a pause (0: the rate, rounded up)"`
	HTTPTimeout      time.Duration `envconfig:"FLEET_HTTP_TIMEOUT" default:"15s" desc:"timeout of one source HTTP request"`
	SyntheticLatency time.Duration `envconfig:"FLEET_SYNTHETIC_LATENCY" default:"0s" desc:"simulated fetch latency of the synthetic source"`
	RetryBase        time.Duration `envconfig:"FLEET_RETRY_BASE" default:"2s" desc:"delay before the first retry of a failed task; doubles per delivery, with jitter"`
	RetryMax         time.Duration `envconfig:"FLEET_RETRY_MAX" default:"2m" desc:"longest delay between retries of a task"`
	StatementTimeout time.Duration `envconfig:"FLEET_STATEMENT_TIMEOUT" default:"30s" desc:"server-side limit on one SQL statement (SQLSTATE 57014, retried)"`
	WriteTimeout     time.Duration `envconfig:"FLEET_WRITE_TIMEOUT" default:"45s" desc:"client-side limit on one batch write; on expiry the session is replaced and the batch replayed"`
	ShutdownGrace    time.Duration `envconfig:"FLEET_SHUTDOWN_GRACE" default:"25s" desc:"on SIGTERM, time allowed to finish the current batch"`
	GCPercent        int           `envconfig:"FLEET_GC_PERCENT" default:"200" desc:"Go garbage collector target, as GOGC (25..1000); 200 does about half the collection work of Go's 100 for a few MB more heap"`
	Features         bool          `envconfig:"FLEET_FEATURES" default:"true" desc:"after a collection stored new bars, enqueue a features task for that symbol and interval"`
	AutoMigrate      bool          `envconfig:"FLEET_AUTO_MIGRATE" default:"true" desc:"apply missing schema migrations at start (under a lock)"`
	MetricsAddr      string        `envconfig:"FLEET_METRICS_ADDR" desc:"address for /metrics (Prometheus), /healthz and /readyz, e.g. :9464 (default: off)"`
}

var workerIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,43}$`)

// Validate checks the settings; each error names its variable.
func (c *config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Budget.Validate(); err != nil {
		return err
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
		if len(c.WorkerID) > 44 {
			c.WorkerID = c.WorkerID[len(c.WorkerID)-44:]
		}
	}
	switch {
	case c.DatabaseURL == "":
		return fmt.Errorf("DATABASE_URL: must not be empty")
	case !workerIDRE.MatchString(c.WorkerID):
		return fmt.Errorf("FLEET_WORKER_ID=%q: want 1-44 letters, digits, '.', '_' or '-'", c.WorkerID)
	case c.BatchSize < 1 || c.BatchSize > 1000:
		return fmt.Errorf("FLEET_BATCH_SIZE=%d: want 1..1000", c.BatchSize)
	case c.FetchConcurrency < 1 || c.FetchConcurrency > 1000:
		return fmt.Errorf("FLEET_FETCH_CONCURRENCY=%d: want 1..1000", c.FetchConcurrency)
	case c.Pipeline < 1 || c.Pipeline > 8:
		return fmt.Errorf("FLEET_PIPELINE=%d: want 1..8", c.Pipeline)
	case c.FetchWait < 100*time.Millisecond || c.FetchWait > time.Minute:
		return fmt.Errorf("FLEET_FETCH_WAIT=%s: want 100ms..1m", c.FetchWait)
	case c.Consumer == "":
		return fmt.Errorf("FLEET_CONSUMER: must not be empty")
	case c.AckWait < time.Second:
		return fmt.Errorf("FLEET_ACK_WAIT=%s: want at least 1s", c.AckWait)
	case c.MaxDeliver < 1:
		return fmt.Errorf("FLEET_MAX_DELIVER=%d: want at least 1", c.MaxDeliver)
	case c.MaxAckPending < c.BatchSize:
		return fmt.Errorf("FLEET_MAX_ACK_PENDING=%d: want at least FLEET_BATCH_SIZE (%d)", c.MaxAckPending, c.BatchSize)
	case c.HTTPTimeout <= 0:
		return fmt.Errorf("FLEET_HTTP_TIMEOUT=%s: want > 0", c.HTTPTimeout)
	case c.SyntheticLatency < 0:
		return fmt.Errorf("FLEET_SYNTHETIC_LATENCY=%s: want >= 0", c.SyntheticLatency)
	case c.RetryBase < 10*time.Millisecond || c.RetryMax < c.RetryBase:
		return fmt.Errorf("FLEET_RETRY_BASE=%s, FLEET_RETRY_MAX=%s: want 10ms <= base <= max", c.RetryBase, c.RetryMax)
	case c.StatementTimeout < 100*time.Millisecond:
		return fmt.Errorf("FLEET_STATEMENT_TIMEOUT=%s: want at least 100ms", c.StatementTimeout)
	case c.WriteTimeout < time.Second:
		return fmt.Errorf("FLEET_WRITE_TIMEOUT=%s: want at least 1s", c.WriteTimeout)
	case c.ShutdownGrace <= 0:
		return fmt.Errorf("FLEET_SHUTDOWN_GRACE=%s: want > 0", c.ShutdownGrace)
	case c.GCPercent < 25 || c.GCPercent > 1000:
		return fmt.Errorf("FLEET_GC_PERCENT=%d: want 25..1000", c.GCPercent)
	case c.ShutdownGrace <= c.FetchWait:
		return fmt.Errorf("FLEET_SHUTDOWN_GRACE=%s: want more than FLEET_FETCH_WAIT (%s)", c.ShutdownGrace, c.FetchWait)
	}
	if _, err := c.sourceRate(); err != nil {
		return err
	}
	if c.SourceBurst < 0 {
		return fmt.Errorf("FLEET_SOURCE_BURST=%d: want >= 0", c.SourceBurst)
	}
	switch c.Source {
	case "synthetic":
	case "yahoo":
		u, err := url.Parse(c.YahooURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("FLEET_YAHOO_URL=%q: want an http(s) URL", c.YahooURL)
		}
	default:
		return fmt.Errorf("FLEET_SOURCE=%q: want synthetic or yahoo", c.Source)
	}
	return nil
}

// consumerConfig is the normal consumer's settings, or the high-priority
// consumer's (named FLEET_CONSUMER + "-priority").
func (c *config) consumerConfig(priority bool) queue.ConsumerConfig {
	name := c.Consumer
	if priority {
		name += "-priority"
	}
	return queue.ConsumerConfig{Name: name, AckWait: c.AckWait, MaxDeliver: c.MaxDeliver, MaxAckPending: c.MaxAckPending, Priority: priority}
}

// appName is the worker's application_name in pg_stat_activity.
func (c *config) appName() string { return "marketfleet-worker/" + c.WorkerID }

// defaultYahooRate is FLEET_SOURCE_RATE=auto for the yahoo source: well
// under what Yahoo tolerates from one client.
const defaultYahooRate = 5

// sourceRate is FLEET_SOURCE_RATE in requests per second, 0 for unlimited.
func (c *config) sourceRate() (float64, error) {
	if c.SourceRate == "auto" {
		if c.Source == "yahoo" {
			return defaultYahooRate, nil
		}
		return 0, nil
	}
	r, err := strconv.ParseFloat(c.SourceRate, 64)
	if err != nil || r < 0 || r > ratelimit.MaxRate || math.IsNaN(r) {
		return 0, fmt.Errorf("FLEET_SOURCE_RATE=%q: want auto, 0 (unlimited) or requests per second up to %g", c.SourceRate, ratelimit.MaxRate)
	}
	return r, nil
}
