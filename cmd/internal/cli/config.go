package cli

import (
	"errors"
	"fmt"
	"time"

	"marketfleet/budget"
	"marketfleet/dlq"
	"marketfleet/queue"
	"marketfleet/slots"
	"marketfleet/worker"
)

// Common is what every command reads for itself: where NATS is, how to
// authenticate, how to log. Embed it in a command's spec. Its defaults are
// the commands' own (no library has them).
type Common struct {
	NATSURL   string `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated; needs nats-server >= 2.11 with JetStream"`
	LogLevel  string `envconfig:"FLEET_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"FLEET_LOG_FORMAT" default:"auto" desc:"json, console, or auto (console when stderr is a terminal)"`
	NATSAuth
}

// Validate checks the settings; errors name the variable.
func (c Common) Validate() error {
	if err := c.NATSAuth.Validate(); err != nil {
		return err
	}
	if c.NATSURL == "" {
		return errors.New("NATS_URL: must not be empty")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	switch c.LogFormat {
	case "auto", "json", "console":
		return nil
	}
	return fmt.Errorf("FLEET_LOG_FORMAT=%q: want json, console or auto", c.LogFormat)
}

// Streams are the variables of the fleet's streams, bound to the fields of
// the configurations they set (BindStreams): the library's defaults and
// limits apply.
type Streams struct {
	Stream     *string        `envconfig:"FLEET_STREAM" desc:"JetStream stream holding the task backlog"`
	Replicas   *int           `envconfig:"FLEET_STREAM_REPLICAS" desc:"replicas of every stream and KV bucket: 1 on one server, 3 in a production cluster"`
	MaxBytes   *int64         `envconfig:"FLEET_STREAM_MAX_BYTES" desc:"task stream size cap in bytes; when full, publishing fails instead of dropping tasks"`
	Duplicates *time.Duration `envconfig:"FLEET_DEDUP_WINDOW" desc:"window in which a task with the same Nats-Msg-Id is a duplicate"`
	Batches    Not            `envconfig:"FLEET_STREAM_BATCHES" desc:"the task stream allows atomic batches: publishers store up to 256 tasks with one fsync on a nats-server with sync_interval: always; false on a server with the default fsync interval, where batches only cost CPU (an existing stream changes with fleetctl stream apply)"`
	DLQ        *string        `envconfig:"FLEET_DLQ_STREAM" desc:"JetStream stream keeping dead letters"`
	DLQMaxAge  *time.Duration `envconfig:"FLEET_DLQ_MAX_AGE" desc:"how long dead letters are kept"`
	DLQBytes   *int64         `envconfig:"FLEET_DLQ_MAX_BYTES" desc:"dead-letter stream size cap in bytes; when full, new dead letters are refused (tasks kept and retried), never old ones dropped"`
	Refused    *string        `envconfig:"FLEET_REFUSED_STREAM" desc:"JetStream stream keeping refused on-demand requests (first 4 KiB, size, hash), apart from dead tasks"`
	RefusedCap *int64         `envconfig:"FLEET_REFUSED_MAX_BYTES" desc:"refused-request stream size cap in bytes; the oldest records go first"`
}

// BindStreams binds the stream variables to the task stream s (its
// replication factor to replicas) and the dead-letter stream d.
func BindStreams(replicas *int, s *queue.StreamConfig, d *dlq.Config) Streams {
	return Streams{Stream: &s.Name, Replicas: replicas, MaxBytes: &s.MaxBytes, Duplicates: &s.Duplicates, Batches: Not{P: &s.SkipBatches},
		DLQ: &d.Name, DLQMaxAge: &d.MaxAge, DLQBytes: &d.MaxBytes, Refused: &d.RefusedName, RefusedCap: &d.RefusedMaxBytes}
}

// Budget are the variables of the connection budget, which the worker
// enforces and fleetctl shows, bound to the configurations they set
// (BindBudget).
type Budget struct {
	MaxSessions *int           `envconfig:"FLEET_MAX_SESSIONS" desc:"cap on the PostgreSQL sessions the whole fleet holds; the budget computed from the server wins when lower (0: no cap)"`
	Reserve     *int           `envconfig:"FLEET_DB_RESERVE" desc:"sessions kept free for other applications (dashboards, APIs, psql) when computing the budget"`
	SlotsBucket *string        `envconfig:"FLEET_SLOTS_BUCKET" desc:"NATS KV bucket of the connection slots"`
	SlotTTL     *time.Duration `envconfig:"FLEET_SLOT_TTL" desc:"a dead worker's slot is free again after this long; renewed every TTL/5"`
}

// BindBudget binds the budget variables to b and the slot table s. b's
// Reserve, which has no library default (0 keeps nothing back), is given
// the commands' default, budget.DefaultReserve, unless it is set already.
func BindBudget(b *budget.Config, s *slots.Config) Budget {
	if b.Reserve == 0 {
		b.Reserve = budget.DefaultReserve
	}
	return Budget{MaxSessions: &b.Cap, Reserve: &b.Reserve, SlotsBucket: &s.Bucket, SlotTTL: &s.TTL}
}

// Workers are the variables that say where the workers work: their
// database and their consumer, read by the worker and by fleetctl
// (BindWorkers).
type Workers struct {
	DatabaseURL *string `envconfig:"DATABASE_URL" secret:"true" desc:"PostgreSQL URL or DSN of the fleet's database (default postgres://postgres@127.0.0.1:5432/postgres); a worker holds exactly one session, fleetctl one short one"`
	Consumer    *string `envconfig:"FLEET_CONSUMER" desc:"durable pull consumer the workers share (the high-priority one is <name>-priority)"`
}

// BindWorkers binds the workers' variables to c.
func BindWorkers(c *worker.Config) Workers {
	return Workers{DatabaseURL: &c.DatabaseURL, Consumer: &c.Consumer.Name}
}

// Fleet is the spec every command starts from: its own settings (Common)
// and the fleet's streams (Streams), bound to Config, the workers'
// configuration, which holds the library defaults: a command looks where
// the workers look. Call Defaults on the Fleet in place before anything
// else (the bindings point into it); a command binds its other variables
// to Config too.
type Fleet struct {
	Common
	Streams
	Config worker.Config `ignored:"true"`
}

// Defaults sets Config to the workers' defaults and binds Streams to it.
func (f *Fleet) Defaults() {
	f.Config = worker.Config{}.WithDefaults()
	f.Streams = BindStreams(&f.Config.Replicas, &f.Config.Stream, &f.Config.DLQ)
}

// LoadFleet reads the environment into spec, a command's spec that embeds
// f (after f.Defaults and the command's own bindings), and validates
// f.Config; the error names the variable.
func LoadFleet(spec any, f *Fleet) error {
	return Load(spec, &f.Config, func() error { return f.Config.Validate() })
}
