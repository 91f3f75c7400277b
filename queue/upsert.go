package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// UpsertStream makes the stream match want: it creates it when missing,
// updates it only when one of the settings marketfleet manages differs, and
// otherwise leaves it alone. Many processes starting together therefore
// send no updates at all, which keeps them off the server's update path
// (nats-server 2.15 races a stream update against a concurrent consumer
// create) and out of each other's way. Safe to race.
func UpsertStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return s, err
		}
		s, err = js.Stream(ctx, want.Name) // created meanwhile by another process
	}
	if err != nil {
		return nil, err
	}
	if !streamDiffers(s.CachedInfo().Config, want) {
		return s, nil
	}
	return js.UpdateStream(ctx, want)
}

// streamDiffers compares the settings marketfleet manages. A zero limit in
// want means "the server's default", which the server fills in.
func streamDiffers(have, want jetstream.StreamConfig) bool {
	return !slices.Equal(have.Subjects, want.Subjects) || have.Retention != want.Retention ||
		have.Storage != want.Storage || have.Discard != want.Discard || have.Description != want.Description ||
		differsIfSet(have.MaxBytes, want.MaxBytes) || differsIfSet(have.MaxMsgSize, want.MaxMsgSize) ||
		differsIfSet(have.Duplicates, want.Duplicates) || differsIfSet(have.MaxAge, want.MaxAge) ||
		differsIfSet(have.Replicas, want.Replicas)
}

// consumerDiffers is streamDiffers for consumers.
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
