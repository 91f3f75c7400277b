package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/cmd/internal/cli"
	"marketfleet/dlq"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/slots"
	"marketfleet/store"
)

// gather reads everything the status report shows: NATS (backlog, dead
// letters, slots) and PostgreSQL (sessions, task counts, freshness)
// concurrently, each through one short connection. What could not be read
// is absent from the report and named in its NATSError or PostgresError;
// the error joins both ("NATS unreachable (NATS_URL): ...").
func gather(ctx context.Context, cfg *config, opt statusOptions) (statusReport, error) {
	r := statusReport{At: time.Now()}
	var natsErr, pgErr error
	var wg sync.WaitGroup
	wg.Go(func() { natsErr = gatherNATS(ctx, cfg, opt.Timeout, &r) })
	wg.Go(func() { pgErr = gatherPostgres(ctx, cfg.Config.DatabaseURL, opt, &r) })
	wg.Wait()
	if natsErr != nil {
		r.NATSError = oneLine(natsErr)
	}
	if pgErr != nil {
		r.PostgresError = oneLine(pgErr)
	}
	return r, errors.Join(natsErr, pgErr)
}

// gatherNATS fills the backlog, dead-letter and slot sections of r.
func gatherNATS(ctx context.Context, cfg *config, timeout time.Duration, r *statusReport) error {
	ctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	nc, js, err := dialNATS(cfg.Common, timeout)
	if err != nil {
		return fmt.Errorf("NATS unreachable (NATS_URL): %w", err)
	}
	defer nc.Close()
	b, err := readBacklog(ctx, js, cfg.Config.Stream.Name, []string{cfg.Config.Consumer.Name, cfg.Config.Consumer.Name + "-priority"})
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	r.Backlog = &b
	recs, err := dlq.NewAdmin(js, cfg.Config.DLQ.Name).List(ctx, dlq.Filter{}, 0)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("NATS: %w", err)
	}
	d := deadLettersOf(recs)
	r.DeadLetters = &d
	tab, err := slots.Open(ctx, js, cfg.Config.SlotsConfig())
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	st, err := tab.State(ctx)
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	slices.SortFunc(st.Held, func(a, b slots.Holder) int { return a.Slot - b.Slot })
	slices.SortFunc(st.Waiting, func(a, b slots.Holder) int { return a.Since.Compare(b.Since) })
	r.Slots = &st
	return nil
}

// dialNATS makes one connection attempt (a status report retries by being
// asked again) and refuses servers the fleet cannot run on.
func dialNATS(c cli.Common, timeout time.Duration) (*nats.Conn, jetstream.JetStream, error) {
	opts, err := c.NATSAuth.Options()
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(c.NATSURL, append(opts, nats.Name(fleetctlApp), nats.Timeout(timeout), nats.NoReconnect())...)
	if err != nil {
		return nil, nil, err
	}
	js, err := cli.JetStreamOn(nc)
	if err != nil {
		return nil, nil, err
	}
	return nc, js, nil
}

// readBacklog reads the task stream and the named consumers on it.
func readBacklog(ctx context.Context, js jetstream.JetStream, stream string, consumers []string) (backlogStatus, error) {
	b := backlogStatus{Stream: stream, Consumers: []consumerStatus{}}
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		b.Missing = true
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	b.Messages, b.Bytes = info.State.Msgs, info.State.Bytes
	for _, name := range consumers {
		c, err := readConsumer(ctx, js, stream, name)
		if err != nil {
			return b, fmt.Errorf("consumer %s: %w", name, err)
		}
		b.Consumers = append(b.Consumers, c)
	}
	return b, nil
}

// readConsumer reads one consumer's counts and the publish time of the
// oldest task waiting for its delivery (queue.BacklogOf).
func readConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) (consumerStatus, error) {
	c := consumerStatus{Name: name}
	b, err := queue.BacklogOf(ctx, js, stream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c.Missing = true
		return c, nil
	case err != nil:
		return c, err
	}
	c.Filter, c.Pending, c.AckPending, c.Redelivered = b.Filter, b.Pending, b.AckPending, b.Redelivered
	if !b.OldestWaiting.IsZero() {
		c.OldestWaiting = &b.OldestWaiting
	}
	return c, nil
}

// gatherPostgres fills the sessions, failure-rate, freshness, restatement
// and history sections of r.
func gatherPostgres(ctx context.Context, dbURL string, opt statusOptions, r *statusReport) error {
	ctx, cancel := context.WithTimeout(ctx, 3*opt.Timeout) // to open, then statements of at most Timeout
	defer cancel()
	db, err := openStatusStore(ctx, dbURL, opt.Timeout)
	if err != nil {
		return fmt.Errorf("PostgreSQL unreachable (DATABASE_URL): %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = db.Close(cctx)
	}()
	limits, err := db.ServerLimits(ctx)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	p := postgresOf(limits)
	r.Postgres = &p
	since := r.At.Add(-time.Hour)
	counts, err := db.TaskCountsSince(ctx, since)
	f, err := failuresOf(counts, since, err)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	if f.Delayed, err = delayedOf(db.DelayedAt(ctx, r.At)); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r.Failures = &f
	stalest, err := db.StalestSeries(ctx, opt.Stale)
	fr, err := freshnessOf(stalest, err)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r.Freshness = &fr
	daySince := r.At.Add(-24 * time.Hour)
	rc, err := db.RestatementsSince(ctx, daySince)
	var pending []market.Series
	if err == nil {
		pending, err = db.UnrestatedSince(ctx, r.At.Add(-7*24*time.Hour))
	}
	rs, err := restatementsOf(rc, pending, daySince, err)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r.Restatements = &rs
	fin, err := db.FinalityAt(ctx, r.At)
	var last store.AuditRecord
	var ran bool
	if err == nil {
		last, ran, err = db.LastAudit(ctx, false)
	}
	h, err := historyOf(fin, last, ran, err)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r.History = &h
	return nil
}

// openStatusStore opens fleetctl's one short session, trying until timeout.
// When time runs out the error says why the last attempt failed.
func openStatusStore(ctx context.Context, dbURL string, timeout time.Duration) (*store.Store, error) {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return store.Open(octx, dbURL, store.Config{ApplicationName: fleetctlApp, StatementTimeout: timeout})
}

// oneLine flattens err's message (errors.Join puts one error per line).
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
