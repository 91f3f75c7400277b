package main

import (
	"context"
	"fmt"
	"os"
)

// durableReport is the durable mode: the designs and the JetStream
// ceilings on a nats-server with sync_interval: always, and the fsyncs
// per task.
type durableReport struct {
	// JetStream is fetch+ack with the worker's acks, confirmed per batch
	// (published before the clock starts); JetStreamConfirmedAck the same
	// with every ack confirmed on its own;
	// JetStreamWithPublish publish and fetch+ack at once, both timed, as a
	// run of a design does.
	JetStream             float64      `json:"jetstream_fetch_ack_per_sec"`
	JetStreamConfirmedAck float64      `json:"jetstream_fetch_confirmed_ack_per_sec"`
	JetStreamWithPublish  float64      `json:"jetstream_publish_fetch_ack_per_sec"`
	Summaries             []summary    `json:"summaries"`
	Fsyncs                []fsyncCount `json:"fsyncs"`
}

// durableMode restarts the nats-server with sync_interval: always (what
// OPERATIONS.md tells production to run; PostgreSQL keeps its
// synchronous_commit = on), measures the JetStream ceilings and runs the
// designs on it, then counts the fsyncs per task. It leaves the server
// as it found it.
func (e *env) durableMode(ctx context.Context, o options, batch int, seq *int, series func(runConfig, int) (summary, error)) (durableReport, error) {
	var d durableReport
	fmt.Fprintln(os.Stderr, "bench: durable mode (nats-server sync_interval: always)")
	before := e.durable
	if err := e.restartNATS(ctx, true, ""); err != nil {
		return d, err
	}
	defer func() { _ = e.restartNATS(context.WithoutCancel(ctx), before, "") }()
	n := max(o.n, 20*batch)
	var err error
	if d.JetStream, err = jetStreamCeiling(ctx, e.natsURL, n, batch, o.k, ackFlushed); err != nil {
		return d, fmt.Errorf("durable JetStream ceiling: %w", err)
	}
	if d.JetStreamConfirmedAck, err = jetStreamCeiling(ctx, e.natsURL, n, batch, o.k, ackConfirmed); err != nil {
		return d, fmt.Errorf("durable JetStream ceiling, every ack confirmed: %w", err)
	}
	if d.JetStreamWithPublish, err = jetStreamPublishCeiling(ctx, e.natsURL, n, batch, o.k); err != nil {
		return d, fmt.Errorf("durable JetStream ceiling with publishing: %w", err)
	}
	if d.Summaries, err = designTable(o, series); err != nil {
		return d, err
	}
	if d.Fsyncs, err = e.countFsyncs(ctx, o, batch, seq); err != nil {
		return d, err
	}
	return d, nil
}
