package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/queue"
	"marketfleet/source/synthetic"
)

// setupTimeout bounds connecting to NATS and ensuring the stream and consumer.
const setupTimeout = 30 * time.Second

// flushTimeout bounds the flush of the acks still buffered at exit.
const flushTimeout = 5 * time.Second

// run connects to NATS, ensures the task stream and consumer, runs the
// design until ctx ends, then flushes the acks and writes the stats.
func run(ctx context.Context, c config, log zerolog.Logger) error {
	nc, err := nats.Connect(c.NATSURL, nats.Name(c.App), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, _, err := queue.EnsureStream(sctx, js, queue.StreamConfig{}); err != nil {
		return err
	}
	cons, err := queue.EnsureConsumer(sctx, js, queue.DefaultStream,
		queue.ConsumerConfig{AckWait: 30 * time.Second, MaxDeliver: c.MaxDeliver})
	if err != nil {
		return err
	}

	src, err := synthetic.New(synthetic.Config{Latency: c.Latency})
	if err != nil {
		return err
	}
	st := newStats(c, log)
	h := &handler{src: src, stats: st, maxDeliver: uint64(c.MaxDeliver)}
	log.Info().Str("design", c.Design).Str("app", c.App).Int("pool", c.Pool).Int("inflight", c.Inflight).
		Stringer("latency", c.Latency).Msg("taking tasks")
	switch c.Design {
	case designPooled:
		err = runPooled(ctx, c, cons, h)
	default:
		err = runSequential(ctx, c, cons, h)
	}
	st.stop()
	if ferr := nc.FlushTimeout(flushTimeout); ferr != nil {
		log.Warn().Err(ferr).Msg("acks not flushed: those tasks will be redelivered")
	}
	if werr := st.write(c.Stats); werr != nil {
		return fmt.Errorf("write stats: %w", werr)
	}
	return err
}
