package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// Drift is how an existing stream's settings differ from the ones a
// process was configured with: one entry per setting, naming both values
// ("max_bytes: the stream has 1073741824, this process wants 1048576").
type Drift []string

// DriftAdvice is the message of the warning a process logs about a Drift.
const DriftAdvice = "the stream's settings differ from this process's; it is left as it is " +
	"(a producer never changes a shared stream; `fleetctl stream apply` applies these settings)"

// UpsertStream creates the stream want when it is missing (safe to race:
// a stream created meanwhile by another process is used). An existing
// stream is changed only when apply is set, and only when a setting
// marketfleet manages differs; either way the differences are returned.
// Processes therefore never reconfigure a shared stream behind the
// operator's back (a producer started with another FLEET_STREAM_MAX_BYTES
// does not shrink it), and many starting together send no updates at all,
// which keeps them off the server's update path (nats-server 2.15 races a
// stream update against a concurrent consumer create).
func UpsertStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, apply bool) (jetstream.Stream, Drift, error) {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return s, nil, err
		}
		s, err = js.Stream(ctx, want.Name) // created meanwhile by another process
	}
	if err != nil {
		return nil, nil, err
	}
	drift := streamDrift(s.CachedInfo().Config, want)
	if len(drift) == 0 || !apply {
		return s, drift, nil
	}
	s, err = js.UpdateStream(ctx, want)
	return s, drift, err
}

// streamDrift compares the settings marketfleet manages. A zero limit in
// want means "the server's default", which the server fills in.
func streamDrift(have, want jetstream.StreamConfig) Drift {
	var d Drift
	add := func(name string, h, w any) {
		d = append(d, fmt.Sprintf("%s: the stream has %v, this process wants %v", name, h, w))
	}
	if !slices.Equal(have.Subjects, want.Subjects) {
		add("subjects", have.Subjects, want.Subjects)
	}
	if have.Retention != want.Retention {
		add("retention", have.Retention, want.Retention)
	}
	if have.Storage != want.Storage {
		add("storage", have.Storage, want.Storage)
	}
	if have.Discard != want.Discard {
		add("discard", have.Discard, want.Discard)
	}
	if have.AllowAtomicPublish != want.AllowAtomicPublish {
		add("allow_atomic", have.AllowAtomicPublish, want.AllowAtomicPublish)
	}
	if have.Description != want.Description {
		add("description", strconv.Quote(have.Description), strconv.Quote(want.Description))
	}
	for _, f := range []struct {
		name       string
		have, want int64
	}{
		{"max_bytes", have.MaxBytes, want.MaxBytes},
		{"max_msg_size", int64(have.MaxMsgSize), int64(want.MaxMsgSize)},
		{"replicas", int64(have.Replicas), int64(want.Replicas)},
	} {
		if differsIfSet(f.have, f.want) {
			add(f.name, f.have, f.want)
		}
	}
	if differsIfSet(have.Duplicates, want.Duplicates) {
		add("duplicate_window", have.Duplicates, want.Duplicates)
	}
	if differsIfSet(have.MaxAge, want.MaxAge) {
		add("max_age", have.MaxAge, want.MaxAge)
	}
	return d
}

// consumerDiffers is streamDrift for consumers, which the workers own:
// they update them to their settings.
func consumerDiffers(have, want jetstream.ConsumerConfig) bool {
	return have.AckPolicy != want.AckPolicy || have.DeliverPolicy != want.DeliverPolicy ||
		have.FilterSubject != want.FilterSubject || have.Description != want.Description ||
		differsIfSet(have.AckWait, want.AckWait) || differsIfSet(have.MaxDeliver, want.MaxDeliver) ||
		differsIfSet(have.MaxAckPending, want.MaxAckPending)
}

func differsIfSet[T comparable](have, want T) bool {
	var zero T
	return want != zero && have != want
}

// UpsertConsumer makes the durable consumer match want, the same way:
// create when missing, update only when a managed setting differs.
func UpsertConsumer(ctx context.Context, js jetstream.JetStream, stream string, want jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, stream, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return js.CreateOrUpdateConsumer(ctx, stream, want)
	}
	if err != nil {
		return nil, err
	}
	if !consumerDiffers(c.CachedInfo().Config, want) {
		return c, nil
	}
	c, err = js.UpdateConsumer(ctx, stream, want)
	if err != nil {
		return nil, fmt.Errorf("update consumer %s: %w", want.Durable, err)
	}
	return c, nil
}

// EnsureKeyValue opens the KV bucket cfg.Bucket, creating it with cfg when
// it does not exist; it is safe to race (a bucket created meanwhile is
// opened). An existing bucket is used as it is: its settings are not
// updated.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) { // created meanwhile
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
