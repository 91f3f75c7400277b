package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/leases"
	"marketfleet/queue"
	"marketfleet/ratelimit"
	"marketfleet/runner"
	"marketfleet/slots"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/source/yahoo"
)

// queueSide is the worker's JetStream side.
type queueSide struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	fetcher *queue.Fetcher
	dead    *dlq.Writer
	reaper  *dlq.Reaper
	slots   *slots.Table
	tasks   *queue.Publisher // follow-up tasks
	leases  *leases.Table    // the series locks behind a pooler; nil without one
}

// locker is the runner's series locks: the leases behind a pooler, else
// nil (the session's advisory locks).
func (q *queueSide) locker() runner.Locker {
	if q.leases == nil {
		return nil
	}
	return q.leases
}

// openQueue connects to NATS and ensures the task stream, both consumers,
// the dead-letter stream, the advisory reaper and the slot bucket,
// retrying while the cluster is not ready.
func (w *Worker) openQueue(ctx context.Context) (*queueSide, error) {
	nc, js, err := w.cfg.Dial(ctx, NATSHooks{
		Connected:   func(up bool) { w.mx.NATSConnected.Set(b2f(up)) },
		Reconnected: w.mx.NATSReconnects.Inc,
	})
	if err != nil {
		return nil, err
	}
	dead := dlq.NewWriter(js, dlq.WriterConfig{Stream: w.cfg.DLQ.Name, RefusedStream: w.cfg.DLQ.RefusedName,
		OnWritten: func(l dlq.Letter) { w.mx.DeadLetters.WithLabelValues(string(l.Class)).Inc() },
		OnFailed:  func(stream string) { w.mx.DeadLetterFailures.WithLabelValues(w.cfg.deadLetterLabel(stream)).Inc() }})
	q := &queueSide{nc: nc, js: js, dead: dead, tasks: queue.NewPublisher(js, w.cfg.Stream.Name)}
	err = w.retrySetup(ctx, "set up JetStream", func(ctx context.Context) error {
		_, drift, err := queue.EnsureStream(ctx, js, w.cfg.StreamConfig())
		if err != nil {
			return err
		}
		w.warnDrift(w.cfg.Stream.Name, drift)
		cons, err := queue.EnsureConsumer(ctx, js, w.cfg.Stream.Name, w.cfg.Consumer)
		if err != nil {
			return err
		}
		urgent, err := queue.EnsureConsumer(ctx, js, w.cfg.Stream.Name, w.cfg.priorityConsumer())
		if err != nil {
			return err
		}
		if q.fetcher, err = queue.NewFetcher(cons, urgent, w.cfg.Fetcher); err != nil {
			return err
		}
		q.fetcher.Restore(w.restoreQueue(js))
		_, drift, err = dlq.EnsureStream(ctx, js, w.cfg.DLQConfig())
		if err != nil {
			return err
		}
		w.warnDrift(w.cfg.DLQ.Name, drift)
		if q.reaper, err = dlq.NewReaper(ctx, js, q.dead, dlq.ReaperConfig{TaskStream: w.cfg.Stream.Name,
			Replicas: w.cfg.Replicas, Worker: w.cfg.ID, Logger: w.log}); err != nil {
			return err
		}
		if q.slots, err = slots.Open(ctx, js, w.cfg.SlotsConfig()); err != nil {
			return err
		}
		if w.cfg.DBPooler != "" && q.leases == nil {
			q.leases, err = leases.Open(ctx, js, leases.Config{Replicas: w.cfg.Replicas, Holder: w.cfg.ID, Logger: w.log})
		}
		return err
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

// warnDrift warns, naming both values, when an existing stream's settings
// differ from this worker's: it does not change them (fleetctl stream
// apply does).
func (w *Worker) warnDrift(stream string, d queue.Drift) {
	if len(d) > 0 {
		w.log.Warn().Str("stream", stream).Strs("differences", d).Msg(queue.DriftAdvice)
	}
}

// restoreQueue recreates the task stream and the workers' consumers when an
// operator deleted them: the Fetcher calls it when a pull finds its
// consumer gone. It says so at error level, naming what was missing; a
// consumer that is still there (a pull that found no responder during a
// leader election) is left alone and nothing is logged.
func (w *Worker) restoreQueue(js jetstream.JetStream) queue.Restorer {
	return func(ctx context.Context) (jetstream.Consumer, jetstream.Consumer, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream := w.cfg.Stream.Name
		var missing []string
		if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
			missing = append(missing, "stream "+stream)
		} else if err != nil {
			return nil, nil, err
		}
		for _, c := range []string{w.cfg.Consumer.Name, w.cfg.priorityConsumer().Name} {
			if _, err := js.Consumer(ctx, stream, c); errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				missing = append(missing, "consumer "+c)
			} else if err != nil {
				return nil, nil, err
			}
		}
		if _, _, err := queue.EnsureStream(ctx, js, w.cfg.StreamConfig()); err != nil {
			return nil, nil, err
		}
		cons, err := queue.EnsureConsumer(ctx, js, stream, w.cfg.Consumer)
		if err != nil {
			return nil, nil, err
		}
		urgent, err := queue.EnsureConsumer(ctx, js, stream, w.cfg.priorityConsumer())
		if err != nil {
			return nil, nil, err
		}
		switch {
		case len(missing) > 0 && strings.HasPrefix(missing[0], "stream "):
			w.log.Error().Strs("recreated", missing).
				Msg("the task stream was deleted: recreated it and the consumers; the tasks it held are gone (enqueue them again: producer enqueue/backfill, fleetctl audit --repair)")
		case len(missing) > 0:
			w.log.Error().Strs("recreated", missing).
				Msg("a consumer of the task stream was deleted: recreated it; its tasks are delivered again from the stream")
		}
		return cons, urgent, nil
	}
}

// close flushes what the runner sent last (the Naks of unstarted tasks)
// and closes the connection.
func (q *queueSide) close() {
	if q.leases != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = q.leases.Close(ctx)
		cancel()
	}
	_ = q.nc.FlushTimeout(2 * time.Second)
	q.nc.Close()
}

// retrySetup runs fn until it succeeds, retrying with backoff and jitter
// while its error is transient: a timeout or no responders, as when a
// JetStream cluster is electing a leader or still forming. Any other error
// (a stream that exists with an incompatible setting) is returned at once,
// as is ctx's error when ctx ends.
func (w *Worker) retrySetup(ctx context.Context, what string, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !transientNATS(err) {
			return err
		}
		delay := backoff.Default.Delay(attempt)
		w.log.Warn().Err(err).Int("attempt", attempt).Stringer("retry_in", delay).Msg(what + " failed; retrying")
		if serr := backoff.Sleep(ctx, delay); serr != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

func transientNATS(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected)
}

// newSource returns the configured source, timed for the metrics, and
// throttled by the fleet-wide rate limit when Source.Rate sets one: every
// HTTP attempt of the yahoo client (its retries included), every fetch of
// the synthetic one. The yahoo client tells the limiter how the source
// answers (the adaptive rate and the breaker); the limiter is also the
// runner's gate (nil when the rate is unlimited).
func (w *Worker) newSource(ctx context.Context, js jetstream.JetStream) (source.Source, runner.Gate, error) {
	sc := w.cfg.Source
	rate, _ := sc.rate() // validated
	var limit source.Waiter
	var feedback source.Feedback
	var gate runner.Gate
	if rate > 0 {
		l, err := ratelimit.Open(ctx, js, ratelimit.Config{Key: "source." + sc.Name, Rate: rate, Burst: sc.Burst,
			MaxWait: sc.MaxWait, BreakAfter: sc.BreakAfter, Cooldown: sc.Cooldown,
			Replicas: w.cfg.Replicas, Name: w.cfg.ID, Logger: w.log})
		if err != nil {
			return nil, nil, fmt.Errorf("source rate: %w", err)
		}
		limit, feedback, gate = timedWaiter{w: l, m: w.mx}, l, observedGate{l: l, m: w.mx, peers: &w.peers}
	}
	var src source.Source
	switch sc.Name {
	case SourceYahoo:
		yc := sc.Yahoo
		yc.Limiter, yc.Feedback = limit, feedback
		y, err := yahoo.New(yc)
		if err != nil {
			return nil, nil, err
		}
		src = y
	default:
		s, err := synthetic.New(sc.Synthetic)
		if err != nil {
			return nil, nil, err
		}
		src = s
		if limit != nil {
			src = source.Throttled(src, limit)
		}
	}
	return observedSource(src, w.mx), gate, nil
}
