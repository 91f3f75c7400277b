package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/tasks"
)

// taskTimeout bounds one task's fetch and upsert (the consumer's AckWait:
// past it the task is redelivered anyway).
const taskTimeout = 30 * time.Second

// handler does one task the way the users' code did: decode, fetch, upsert
// with one statement, then a plain Ack. It is safe for concurrent use when
// its database is (a pool is, a *pgx.Conn is not).
type handler struct {
	src        *synthetic.Source
	stats      *stats
	maxDeliver uint64
}

// handle takes msg to settlement. ctx should not be the stop signal's: a
// task started is finished.
func (h *handler) handle(ctx context.Context, db execer, msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(ctx, taskTimeout)
	defer cancel()
	t, err := tasks.Decode(msg.Data())
	if err != nil || t.Kind != tasks.KindCollect {
		h.stats.invalid()
		_ = msg.Term()
		return
	}
	bars, err := source.Bars(ctx, h.src, source.Request{Symbol: t.Symbol, Interval: t.Interval, From: t.From, To: t.To})
	if err != nil {
		h.stats.fetchError()
		h.nak(msg)
		return
	}
	if len(bars) > 0 {
		if err := upsert(ctx, db, bars); err != nil {
			var ce *pgconn.ConnectError
			h.stats.dbError(err, errors.As(err, &ce))
			h.nak(msg)
			return
		}
	}
	// Fire and forget, as such code does: Ack publishes the ack and returns
	// without waiting for the server's confirmation.
	if err := msg.Ack(); err != nil {
		h.stats.ackError()
		return
	}
	h.stats.ok(len(bars))
}

// nak hands msg back for immediate redelivery, as a simple user would.
func (h *handler) nak(msg jetstream.Msg) {
	last := false
	if md, err := msg.Metadata(); err == nil {
		last = md.NumDelivered >= h.maxDeliver
	}
	_ = msg.Nak()
	h.stats.nak(last)
}
