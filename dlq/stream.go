package dlq

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/config"
	"marketfleet/queue"
)

// Names.
const (
	// DefaultStream is the dead-letter stream's name.
	DefaultStream = "MARKETFLEET_DLQ"
	// SubjectPrefix is the root of dead-letter subjects: marketfleet.dlq.<class>.
	SubjectPrefix = "marketfleet.dlq"
	// DefaultAdvisoryStream captures MAX_DELIVERIES advisories durably, so
	// none is missed while no worker runs.
	DefaultAdvisoryStream = "MARKETFLEET_ADVISORIES"
	// reaperConsumer is the durable consumer the Reaper reads advisories with.
	reaperConsumer = "marketfleet-reaper"
)

// AdvisoryMaxBytes caps the advisory stream (an advisory is ~300 bytes).
const AdvisoryMaxBytes = 64 << 20

// Config describes the dead-letter stream.
type Config struct {
	// Name of the stream. Defaults to DefaultStream.
	Name string
	// Replicas: 1 on one server, 3 in production. Defaults to 1.
	Replicas int
	// MaxAge is how long a dead letter is kept. Defaults to 30 days.
	MaxAge time.Duration
	// MaxBytes caps the stream; the oldest dead letters go first. Defaults
	// to 256 MiB.
	MaxBytes int64
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultStream)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.MaxAge = cmp.Or(c.MaxAge, 30*24*time.Hour)
	c.MaxBytes = cmp.Or(c.MaxBytes, 256<<20)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case !queue.ValidName(c.Name):
		return config.Invalid(ErrInvalidConfig, "Name", c.Name, "want letters, digits, - and _")
	case c.Replicas < 1 || c.Replicas > 5:
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	case c.MaxAge < time.Hour:
		return config.Invalid(ErrInvalidConfig, "MaxAge", c.MaxAge, "want at least 1h")
	case c.MaxBytes < 1<<20:
		return config.Invalid(ErrInvalidConfig, "MaxBytes", c.MaxBytes, "want at least 1048576 (1 MiB)")
	}
	return nil
}

// EnsureStream creates or updates the dead-letter stream. Limits retention:
// dead letters stay until replayed, purged, or older than MaxAge.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Stream, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s, err := queue.UpsertStream(ctx, js, jetstream.StreamConfig{
		Name:        c.Name,
		Description: "marketfleet dead letters: tasks that were terminated or ran out of deliveries",
		Subjects:    []string{SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Duplicates:  time.Hour,
		Replicas:    c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", c.Name, err)
	}
	return s, nil
}

// ensureAdvisories creates the stream that captures the MAX_DELIVERIES
// advisories of every consumer of the task stream (normal and priority),
// and the Reaper's consumer on it.
func ensureAdvisories(ctx context.Context, js jetstream.JetStream, taskStream string, replicas int) (jetstream.Consumer, error) {
	_, err := queue.UpsertStream(ctx, js, jetstream.StreamConfig{
		Name:        DefaultAdvisoryStream,
		Description: "MAX_DELIVERIES advisories of the marketfleet task consumers, for the dead-letter reaper",
		Subjects:    []string{advisorySubject(taskStream, "*")},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		MaxBytes:    AdvisoryMaxBytes,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", DefaultAdvisoryStream, err)
	}
	cons, err := queue.UpsertConsumer(ctx, js, DefaultAdvisoryStream, jetstream.ConsumerConfig{
		Durable:   reaperConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", reaperConsumer, err)
	}
	return cons, nil
}

func advisorySubject(stream, consumer string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + consumer
}
