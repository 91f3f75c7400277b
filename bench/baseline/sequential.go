package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// Sequential design timings.
const (
	// fetchWait is how long one Fetch(1) waits on an empty queue; it bounds
	// how late the loop notices the stop signal.
	fetchWait = time.Second
	// reconnectDelay is the pause after a failed connection attempt.
	reconnectDelay = 250 * time.Millisecond
	// closeTimeout bounds the goodbye to the connection at exit.
	closeTimeout = 5 * time.Second
)

// runSequential is the users' fix: one *pgx.Conn, one task at a time (fetch
// one message, fetch its bars, upsert, ack). A lost connection is replaced
// before the next message is taken. When ctx ends it finishes the task in
// hand and returns.
func runSequential(ctx context.Context, c config, cons jetstream.Consumer, h *handler) error {
	ccfg, err := pgx.ParseConfig(c.DatabaseURL)
	if err != nil {
		return errors.New("DATABASE_URL: cannot be parsed") // the error may quote a password
	}
	ccfg.RuntimeParams["application_name"] = c.App
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			defer cancel()
			_ = conn.Close(cctx)
		}
	}()

	h.stats.start()
	work := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		if conn == nil || conn.IsClosed() {
			if conn, err = pgx.ConnectConfig(ctx, ccfg); err != nil {
				conn = nil
				if ctx.Err() == nil {
					h.stats.dbError(err, true)
					sleep(ctx, reconnectDelay)
				}
				continue
			}
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		for msg := range batch.Messages() {
			h.handle(work, conn, msg)
		}
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
