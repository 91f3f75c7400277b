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
	"marketfleet/ratelimit"
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
	secs := &sectionErrors{errs: map[string]string{}}
	wg.Go(func() { natsErr = gatherNATS(ctx, cfg, opt.Timeout, &r, secs) })
	wg.Go(func() { pgErr = gatherPostgres(ctx, cfg.Config.DatabaseURL, opt, &r, secs) })
	wg.Wait()
	r.SectionErrors = secs.errs
	if natsErr != nil {
		r.NATSError = oneLine(natsErr)
	}
	if pgErr != nil {
		r.PostgresError = oneLine(pgErr)
	}
	if len(r.SectionErrors) == 0 {
		r.SectionErrors = nil
	}
	return r, errors.Join(natsErr, pgErr)
}

// gatherNATS fills the backlog, dead-letter and slot sections of r, each
// within timeout of its own: a section that runs out (a huge stream, a
// slow server) is named in r.SectionErrors and the others are still shown.
func gatherNATS(ctx context.Context, cfg *config, timeout time.Duration, r *statusReport, secs *sectionErrors) error {
	nc, js, err := dialNATS(cfg.Common, timeout)
	if err != nil {
		return fmt.Errorf("NATS unreachable (NATS_URL): %w", err)
	}
	defer nc.Close()
	secs.section(ctx, "backlog", timeout, 1, 0, func(ctx context.Context) error {
		b, err := readBacklog(ctx, js, cfg.Config.Stream.Name, []string{cfg.Config.Consumer.Name, cfg.Config.Consumer.Name + "-priority"})
		if err == nil {
			r.Backlog = &b
		}
		return err
	})
	secs.section(ctx, "dead_letters", timeout, 1, 0, func(ctx context.Context) error {
		sum, err := dlq.NewAdmin(js, cfg.Config.DLQ.Name).Summary(ctx, reasonSample)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		d := deadLettersOf(sum)
		if refused, err := dlq.NewAdmin(js, cfg.Config.DLQ.RefusedName).Summary(ctx, 0); err == nil {
			n := int(refused.Total)
			d.RefusedRequests = &n
		}
		r.DeadLetters = &d
		return nil
	})
	secs.section(ctx, "source", timeout, 1, 0, func(ctx context.Context) error {
		rs, err := ratelimit.Inspect(ctx, js, "")
		if err != nil {
			return err
		}
		out := make([]sourceStatus, 0, len(rs))
		for _, rd := range rs {
			out = append(out, sourceOf(rd))
		}
		r.Source = &out
		return nil
	})
	secs.section(ctx, "slots", timeout, 1, 0, func(ctx context.Context) error {
		tab, err := slots.Open(ctx, js, cfg.Config.SlotsConfig())
		if err != nil {
			return err
		}
		st, err := tab.State(ctx)
		if err != nil {
			return err
		}
		slices.SortFunc(st.Held, func(a, b slots.Holder) int { return a.Slot - b.Slot })
		slices.SortFunc(st.Waiting, func(a, b slots.Holder) int { return a.Since.Compare(b.Since) })
		r.Slots = &st
		return nil
	})
	return nil
}

// sectionErrors collects why sections are missing, from both services'
// goroutines.
type sectionErrors struct {
	mu   sync.Mutex
	errs map[string]string
}

// section runs fn, which makes at most statements requests of at most
// timeout each, within their sum (plus grace, for a server that enforces
// timeout itself), and records its error, if any, under name ("timed out
// after 10s" when the time ran out).
func (e *sectionErrors) section(ctx context.Context, name string, timeout time.Duration, statements int, grace time.Duration, fn func(ctx context.Context) error) {
	sctx, cancel := context.WithTimeout(ctx, time.Duration(statements)*timeout+grace)
	defer cancel()
	err := fn(sctx)
	if err == nil {
		return
	}
	msg := oneLine(err)
	if errors.Is(err, context.DeadlineExceeded) || sctx.Err() != nil || store.SQLState(err) == store.CodeQueryCanceled {
		msg = "timed out after " + timeout.String()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs[name] = msg
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
// and history sections of r, each within its own time limit: the server
// cancels a statement at opt.Timeout (statement_timeout), and the section
// gives up a moment later, so that one slow section leaves the session to
// the next.
func gatherPostgres(ctx context.Context, dbURL string, opt statusOptions, r *statusReport, secs *sectionErrors) error {
	db, err := openStatusStore(ctx, dbURL, opt.Timeout)
	if err != nil {
		return fmt.Errorf("PostgreSQL unreachable (DATABASE_URL): %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = db.Close(cctx)
	}()
	// The server cancels each statement at opt.Timeout (statement_timeout)
	// and the section gives up a grace later, so that the session survives
	// for the next section; sections of two statements get twice the time.
	const grace = 2 * time.Second
	secs.section(ctx, "postgres", opt.Timeout, 1, grace, func(ctx context.Context) error {
		limits, err := db.ServerLimits(ctx)
		if err == nil {
			p := postgresOf(limits)
			r.Postgres = &p
		}
		return err
	})
	secs.section(ctx, "failures", opt.Timeout, 2, grace, func(ctx context.Context) error {
		since := r.At.Add(-time.Hour)
		counts, err := db.TaskCountsSince(ctx, since)
		f, err := failuresOf(counts, since, err)
		if err != nil {
			return err
		}
		if f.Delayed, err = delayedOf(db.DelayedAt(ctx, r.At)); err != nil {
			return err
		}
		r.Failures = &f
		return nil
	})
	secs.section(ctx, "freshness", opt.Timeout, 1, grace, func(ctx context.Context) error {
		stalest, err := db.StalestSeries(ctx, opt.Stale)
		fr, err := freshnessOf(stalest, err)
		if err == nil {
			r.Freshness = &fr
		}
		return err
	})
	secs.section(ctx, "restatements", opt.Timeout, 2, grace, func(ctx context.Context) error {
		daySince := r.At.Add(-24 * time.Hour)
		rc, err := db.RestatementsSince(ctx, daySince)
		var pending []market.Series
		if err == nil {
			pending, err = db.UnrestatedSince(ctx, r.At.Add(-7*24*time.Hour))
		}
		rs, err := restatementsOf(rc, pending, daySince, err)
		if err == nil {
			r.Restatements = &rs
		}
		return err
	})
	secs.section(ctx, "history", opt.Timeout, 2, grace, func(ctx context.Context) error {
		fin, err := db.FinalityAt(ctx, r.At)
		var last store.AuditRecord
		var ran bool
		if err == nil {
			last, ran, err = db.LastAudit(ctx, false)
		}
		h, err := historyOf(fin, last, ran, err)
		if err == nil {
			r.History = &h
		}
		return err
	})
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
