package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Backlog is one consumer's view of the task stream.
type Backlog struct {
	Consumer string `json:"consumer"`
	// Filter is the consumer's filter subject.
	Filter string `json:"filter"`
	// Pending tasks wait for delivery; AckPending are delivered and not yet
	// settled; Redelivered are delivered more than once and not settled.
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	// OldestWaiting is when the oldest task waiting for delivery was
	// published; zero when none waits.
	OldestWaiting time.Time `json:"oldest_waiting,omitempty"`
}

// BacklogOf reads consumer's backlog on stream: its counters, and the
// publish time of the first task on its filter subject after the last one
// it delivered. It returns an error wrapping jetstream.ErrConsumerNotFound
// when the consumer does not exist (no worker ever started).
func BacklogOf(ctx context.Context, js jetstream.JetStream, stream, consumer string) (Backlog, error) {
	b := Backlog{Consumer: consumer}
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return b, fmt.Errorf("backlog of %s: %w", consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return b, fmt.Errorf("backlog of %s: %w", consumer, err)
	}
	b.Pending, b.AckPending, b.Redelivered = info.NumPending, info.NumAckPending, info.NumRedelivered
	b.Filter = info.Config.FilterSubject
	if b.Filter == "" && len(info.Config.FilterSubjects) == 1 {
		b.Filter = info.Config.FilterSubjects[0]
	}
	if b.Pending == 0 {
		return b, nil
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return b, fmt.Errorf("backlog of %s: %w", consumer, err)
	}
	var opts []jetstream.GetMsgOpt
	if b.Filter != "" {
		opts = append(opts, jetstream.WithGetMsgSubject(b.Filter))
	}
	m, err := s.GetMsg(ctx, info.Delivered.Stream+1, opts...)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return b, nil // taken meanwhile
	case err != nil:
		return b, fmt.Errorf("backlog of %s: oldest task: %w", consumer, err)
	}
	b.OldestWaiting = m.Time.UTC()
	return b, nil
}
