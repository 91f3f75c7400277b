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
	// DefaultRefusedStream keeps the refused on-demand requests, apart from
	// the dead tasks: junk anyone can send must never evict a dead task.
	DefaultRefusedStream = "MARKETFLEET_REFUSED"
	// RefusedSubjectPrefix is the root of refused-request subjects:
	// marketfleet.refused.<class>.
	RefusedSubjectPrefix = "marketfleet.refused"
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
	// MaxBytes caps the stream. When it is full, new dead letters are
	// refused (the worker keeps retrying the task, and
	// marketfleet_dead_letter_failures_total alerts): a dead task is never
	// evicted to make room. Defaults to 256 MiB.
	MaxBytes int64
	// RefusedName is the stream of refused on-demand requests. Defaults
	// to DefaultRefusedStream.
	RefusedName string
	// RefusedMaxBytes caps the refused-request stream; there the oldest
	// records go first (a record is at most MaxRefusedBody bytes of the
	// request plus headers). Defaults to 64 MiB.
	RefusedMaxBytes int64
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultStream)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.MaxAge = cmp.Or(c.MaxAge, 30*24*time.Hour)
	c.MaxBytes = cmp.Or(c.MaxBytes, 256<<20)
	c.RefusedName = cmp.Or(c.RefusedName, DefaultRefusedStream)
	c.RefusedMaxBytes = cmp.Or(c.RefusedMaxBytes, 64<<20)
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
	case !queue.ValidName(c.RefusedName) || c.RefusedName == c.Name:
		return config.Invalid(ErrInvalidConfig, "RefusedName", c.RefusedName, "want letters, digits, - and _, not the dead-letter stream's name")
	case c.RefusedMaxBytes < 1<<20:
		return config.Invalid(ErrInvalidConfig, "RefusedMaxBytes", c.RefusedMaxBytes, "want at least 1048576 (1 MiB)")
	}
	return nil
}

// EnsureStream creates the dead-letter stream and the stream of refused
// requests when they are missing, leaves existing ones as they are, and
// returns the former and how they differ from c (each entry prefixed by
// the stream's name). Limits retention: dead letters stay until replayed,
// purged, or older than MaxAge; when the stream is full, new ones are
// refused (DiscardNew) rather than old ones dropped. Refused requests,
// which anyone who can send a request can produce, live in their own
// stream, where the oldest go first. ApplyStreams changes existing ones.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Stream, queue.Drift, error) {
	return ensureStreams(ctx, js, c, false)
}

// ApplyStreams creates the dead-letter and refused-request streams with c,
// or updates them to c, and returns what it changed.
func ApplyStreams(ctx context.Context, js jetstream.JetStream, c Config) (queue.Drift, error) {
	_, d, err := ensureStreams(ctx, js, c, true)
	return d, err
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, c Config, apply bool) (jetstream.Stream, queue.Drift, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	s, d1, err := queue.UpsertStream(ctx, js, jetstream.StreamConfig{
		Name:        c.Name,
		Description: "marketfleet dead letters: tasks that were terminated or ran out of deliveries",
		Subjects:    []string{SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Duplicates:  time.Hour,
		Replicas:    c.Replicas,
	}, apply)
	if err != nil {
		return nil, nil, fmt.Errorf("ensure stream %s: %w", c.Name, err)
	}
	_, d2, err := queue.UpsertStream(ctx, js, jetstream.StreamConfig{
		Name:        c.RefusedName,
		Description: "marketfleet refused requests: the first bytes, size and hash of invalid on-demand requests",
		Subjects:    []string{RefusedSubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      min(c.MaxAge, 7*24*time.Hour),
		MaxBytes:    c.RefusedMaxBytes,
		MaxMsgSize:  maxRefusedRecord,
		Duplicates:  time.Hour,
		Replicas:    c.Replicas,
	}, apply)
	if err != nil {
		return nil, nil, fmt.Errorf("ensure stream %s: %w", c.RefusedName, err)
	}
	var d queue.Drift
	for _, e := range d1 {
		d = append(d, c.Name+" "+e)
	}
	for _, e := range d2 {
		d = append(d, c.RefusedName+" "+e)
	}
	return s, d, nil
}

// ensureAdvisories creates the stream that captures the MAX_DELIVERIES
// advisories of every consumer of the task stream (normal and priority),
// and the Reaper's consumer on it.
func ensureAdvisories(ctx context.Context, js jetstream.JetStream, taskStream string, replicas int) (jetstream.Consumer, error) {
	_, _, err := queue.UpsertStream(ctx, js, jetstream.StreamConfig{
		Name:        DefaultAdvisoryStream,
		Description: "MAX_DELIVERIES advisories of the marketfleet task consumers, for the dead-letter reaper",
		Subjects:    []string{advisorySubject(taskStream, "*")},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		MaxBytes:    AdvisoryMaxBytes,
		Replicas:    replicas,
	}, true) // the workers' own: always kept to their settings
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
