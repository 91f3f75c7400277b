package queue

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/config"
	"marketfleet/tasks"
)

// Names shared by producers, workers and operators' dashboards.
const (
	// DefaultStream is the task stream's name.
	DefaultStream = "MARKETFLEET_TASKS"
	// DefaultConsumer is the workers' durable pull consumer.
	DefaultConsumer = "marketfleet-workers"
	// DefaultPriorityConsumer is the workers' durable pull consumer of
	// high-priority tasks.
	DefaultPriorityConsumer = "marketfleet-workers-priority"
	// SubjectPrefix is the root of task subjects: marketfleet.tasks.<kind>.
	SubjectPrefix = "marketfleet.tasks"
	// PrioritySubjectPrefix is the root of high-priority task subjects:
	// marketfleet.priority.<kind>. Same stream, own consumer.
	PrioritySubjectPrefix = "marketfleet.priority"
)

// Subject is the subject normal tasks of kind k are published on.
func Subject(k tasks.Kind) string { return SubjectPrefix + "." + string(k) }

// SubjectOf is the subject t is published on: its kind under
// PrioritySubjectPrefix for a high-priority task, else Subject(t.Kind).
func SubjectOf(t tasks.Task) string {
	if t.Priority == tasks.PriorityHigh {
		return PrioritySubjectPrefix + "." + string(t.Kind)
	}
	return Subject(t.Kind)
}

// MaxMessageBytes is the largest message the task stream takes: 16 times
// tasks.MaxEnvelopeBytes. Anything between the two is refused by the worker
// and dead-lettered; anything larger is refused at publish.
const MaxMessageBytes = 16 * tasks.MaxEnvelopeBytes

// StreamConfig describes the task stream. Every field has a default applied
// by WithDefaults. The first process to start creates the stream with its
// view; an existing stream is changed only by ApplyStream (fleetctl stream
// apply), and processes that see a difference warn about it.
type StreamConfig struct {
	// Name of the stream. Defaults to DefaultStream.
	Name string
	// Replicas is the JetStream replication factor: 1 for one server, 3 in
	// production clusters. Defaults to 1.
	Replicas int
	// MaxBytes caps the stream's storage; when full, publishing fails rather
	// than dropping queued tasks. Defaults to 1 GiB.
	MaxBytes int64
	// Duplicates is the de-duplication window for Nats-Msg-Id. Defaults to
	// 1 hour.
	Duplicates time.Duration
	// SkipBatches creates the stream without atomic batches
	// (allow_atomic), so that publishers store every task on its own. A
	// batch costs one fsync on a server with sync_interval: always instead
	// of one per task, but the server writes each message twice (staged,
	// then stored): on a server with the default fsync interval it only
	// costs CPU. Defaults to false: batches allowed.
	SkipBatches bool
}

// WithDefaults returns c with zero fields set to their defaults.
func (c StreamConfig) WithDefaults() StreamConfig {
	c.Name = cmp.Or(c.Name, DefaultStream)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.MaxBytes = cmp.Or(c.MaxBytes, 1<<30)
	c.Duplicates = cmp.Or(c.Duplicates, time.Hour)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c StreamConfig) Validate() error {
	switch {
	case !ValidName(c.Name):
		return config.Invalid(ErrInvalidConfig, "Name", c.Name, "want letters, digits, - and _")
	case c.Replicas < 1 || c.Replicas > 5:
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	case c.MaxBytes < 1<<20:
		return config.Invalid(ErrInvalidConfig, "MaxBytes", c.MaxBytes, "want at least 1048576 (1 MiB)")
	case c.Duplicates < time.Second:
		return config.Invalid(ErrInvalidConfig, "Duplicates", c.Duplicates, "want at least 1s")
	}
	return nil
}

// ValidName reports whether s is a name the fleet accepts for a JetStream
// stream, consumer or KV bucket: letters, digits, - and _.
func ValidName(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
}

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.Name,
		Description: "marketfleet tasks: one message per unit of work, removed when acknowledged",
		Subjects:    []string{SubjectPrefix + ".>", PrioritySubjectPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    c.MaxBytes,
		// Larger than an envelope may be, so that an oversized one reaches a
		// worker's decoder and is dead-lettered with its reason.
		MaxMsgSize: MaxMessageBytes,
		Duplicates: c.Duplicates,
		Replicas:   c.Replicas,
		// Producers store a group of tasks as one atomic batch: one fsync
		// for the group on a server that syncs every write (Publisher).
		AllowAtomicPublish: !c.SkipBatches,
	}
}

// EnsureStream creates the task stream with c when it is missing, and
// otherwise leaves it as it is, returning how it differs from c (for the
// caller to warn about). It never changes an existing stream: ApplyStream
// does, when the operator asks. Safe to race: any number of processes may
// call it at start.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, Drift, error) {
	return ensureStream(ctx, js, c, false)
}

// ApplyStream creates the task stream with c, or updates it to c, and
// returns what it changed (fleetctl stream apply).
func ApplyStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (Drift, error) {
	_, d, err := ensureStream(ctx, js, c, true)
	return d, err
}

func ensureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig, apply bool) (jetstream.Stream, Drift, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	s, d, err := UpsertStream(ctx, js, c.jetstream(), apply)
	if err != nil {
		return nil, d, fmt.Errorf("ensure stream %s: %w", c.Name, err)
	}
	return s, d, nil
}

// ConsumerConfig describes the workers' durable pull consumer.
type ConsumerConfig struct {
	// Name of the durable consumer. Defaults to DefaultConsumer.
	Name string
	// AckWait is how long a delivered task may stay unacknowledged before
	// JetStream redelivers it. Defaults to 30s.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one task; after that JetStream stops
	// retrying it and publishes a MAX_DELIVERIES advisory. Defaults to 10.
	MaxDeliver int
	// MaxAckPending caps unacknowledged tasks across the whole fleet.
	// Defaults to 15000 (a worker holds up to 3 batches: 150 tasks at the
	// default batch of 50, for 100 workers).
	MaxAckPending int
	// Priority makes it the consumer of high-priority tasks (subjects under
	// PrioritySubjectPrefix) instead of normal ones. Its Name then defaults
	// to DefaultPriorityConsumer.
	Priority bool
}

// WithDefaults returns c with zero fields set to their defaults.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.Name == "" {
		c.Name = DefaultConsumer
		if c.Priority {
			c.Name = DefaultPriorityConsumer
		}
	}
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.MaxDeliver = cmp.Or(c.MaxDeliver, 10)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, 15000)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c ConsumerConfig) Validate() error {
	switch {
	case !ValidName(c.Name):
		return config.Invalid(ErrInvalidConfig, "Name", c.Name, "want letters, digits, - and _")
	case c.AckWait < time.Second:
		return config.Invalid(ErrInvalidConfig, "AckWait", c.AckWait, "want at least 1s")
	case c.MaxDeliver < 1:
		return config.Invalid(ErrInvalidConfig, "MaxDeliver", c.MaxDeliver, "want at least 1")
	case c.MaxAckPending < 1:
		return config.Invalid(ErrInvalidConfig, "MaxAckPending", c.MaxAckPending, "want at least 1")
	}
	return nil
}

// EnsureConsumer creates the durable pull consumer on stream or updates it to
// c, and returns it. Idempotent and safe to race.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, c ConsumerConfig) (jetstream.Consumer, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	filter, desc := SubjectPrefix+".>", "marketfleet workers"
	if c.Priority {
		filter, desc = PrioritySubjectPrefix+".>", "marketfleet workers, high-priority tasks"
	}
	cons, err := UpsertConsumer(ctx, js, stream, jetstream.ConsumerConfig{
		Durable:       c.Name,
		Description:   desc,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		MaxAckPending: c.MaxAckPending,
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.Name, stream, err)
	}
	return cons, nil
}
