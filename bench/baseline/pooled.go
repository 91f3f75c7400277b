package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// runPooled is the design that exhausted connections: a pgx pool of up to
// Pool connections (none opened ahead), Inflight tasks at once, each
// upserted through the pool in its own implicit transaction. Messages come
// from a Messages iterator buffering Inflight of them, the usual way to
// write such a consumer. When ctx ends it stops taking messages, naks the
// ones already buffered, and returns once the tasks in flight are done.
func runPooled(ctx context.Context, c config, cons jetstream.Consumer, h *handler) error {
	pcfg, err := pgxpool.ParseConfig(c.DatabaseURL)
	if err != nil {
		return errors.New("DATABASE_URL: cannot be parsed") // the error may quote a password
	}
	pcfg.MaxConns, pcfg.MinConns = int32(c.Pool), 0
	pcfg.ConnConfig.RuntimeParams["application_name"] = c.App
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), pcfg)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	defer pool.Close()

	iter, err := cons.Messages(jetstream.PullMaxMessages(c.Inflight))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	defer iter.Stop()
	stopDrain := context.AfterFunc(ctx, iter.Drain)
	defer stopDrain()

	h.stats.start()
	work := context.WithoutCancel(ctx)
	slots := make(chan struct{}, c.Inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		slots <- struct{}{}
		msg, err := iter.Next()
		switch {
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			<-slots
			return nil
		case err != nil: // a missed heartbeat: the iterator carries on
			<-slots
			time.Sleep(10 * time.Millisecond)
			continue
		case ctx.Err() != nil: // buffered before the stop: not started, give it back
			<-slots
			h.nak(msg)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			h.handle(work, pool, msg)
		})
	}
}
