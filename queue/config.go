package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid queue configuration")

// StreamConfig describes the task stream. Every field has a default applied
// by WithDefaults; producers and workers must agree on it (the last to start
// updates the stream to its view).
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
}

// WithDefaults returns c with zero fields set to their defaults.
func (c StreamConfig) WithDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 30
	}
	if c.Duplicates == 0 {
		c.Duplicates = time.Hour
	}
	return c
}

func (c StreamConfig) validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: stream replicas %d, want 1..5", ErrInvalidConfig, c.Replicas)
	case c.MaxBytes < 1<<20:
		return fmt.Errorf("%w: stream max bytes %d, want at least 1 MiB", ErrInvalidConfig, c.MaxBytes)
	case c.Duplicates < time.Second:
		return fmt.Errorf("%w: duplicate window %s, want at least 1s", ErrInvalidConfig, c.Duplicates)
	}
	return nil
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
	}
}

// EnsureStream creates the task stream or updates it to c. It is idempotent
// and safe to race: any number of processes may call it at start.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	c = c.WithDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	s, err := UpsertStream(ctx, js, c.jetstream())
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", c.Name, err)
	}
	return s, nil
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
	// Defaults to 5000 (a worker holds up to 3 batches: 60 tasks at the
	// default batch of 20, for 83 workers).
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
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 5000
	}
	return c
}

func (c ConsumerConfig) validate() error {
	switch {
	case c.AckWait < time.Second:
		return fmt.Errorf("%w: ack wait %s, want at least 1s", ErrInvalidConfig, c.AckWait)
	case c.MaxDeliver < 1:
		return fmt.Errorf("%w: max deliver %d, want at least 1", ErrInvalidConfig, c.MaxDeliver)
	case c.MaxAckPending < 1:
		return fmt.Errorf("%w: max ack pending %d, want at least 1", ErrInvalidConfig, c.MaxAckPending)
	}
	return nil
}

// EnsureConsumer creates the durable pull consumer on stream or updates it to
// c, and returns it. Idempotent and safe to race.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, c ConsumerConfig) (jetstream.Consumer, error) {
	c = c.WithDefaults()
	if err := c.validate(); err != nil {
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
