package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
	"marketfleet/tasks"
)

// ackStrategy is how a ceiling's clients acknowledge a batch.
type ackStrategy int

const (
	// ackFlushed sends every ack plain, then confirms them all with one
	// round trip (a flush): what the worker does.
	ackFlushed ackStrategy = iota
	// ackConfirmed waits for the server's reply to every ack (DoubleAck),
	// all of a batch concurrently: what the worker did before.
	ackConfirmed
	// ackPlain sends every ack plain and does not wait at all.
	ackPlain
)

// Names and limits of the ceiling measurements.
const (
	// ceilStream is the work-queue stream jetStreamCeiling creates and
	// deletes; its subject overlaps no fleet stream's.
	ceilStream   = "BENCH_CEILING"
	ceilSubject  = "bench.ceiling.collect"
	ceilConsumer = "bench-ceiling"
	// ceilAckTimeout bounds one confirmed ack.
	ceilAckTimeout = 10 * time.Second
	// ceilCleanupTimeout bounds deleting the stream, even after ctx ended.
	ceilCleanupTimeout = 10 * time.Second
	// ceilApp is the application_name of upsertCeiling's session.
	ceilApp = "marketfleet-bench-ceiling"
)

// jetStreamCeiling publishes n small messages (an encoded collect envelope,
// about 250 bytes, the size of a real one) on a fresh work-queue stream of
// its own (BENCH_CEILING, file storage like the task stream; deleted
// first if left over, and after), then consumes them with `consumers`
// concurrent clients, each on its own nats.Conn. Each client takes batches
// of up to `batch` with the worker's own fetcher (queue.Fetcher: one
// Fetch(batch) pull at a time, 5 ms linger) and acknowledges every message
// of a batch before it takes the next batch, as acks says (ackFlushed is
// the worker's way).
//
// It returns messages/s of the consume+ack phase: n divided by the time
// from the moment every client is connected and subscribed-ready to the
// n-th ack (confirmed, but for ackPlain). Publishing is not timed. It returns an error for
// n, batch or consumers < 1, batch > 1000, when publishing, fetching or an
// ack fails, or when ctx ends first.
func jetStreamCeiling(ctx context.Context, natsURL string, n, batch, consumers int, acks ackStrategy) (float64, error) {
	return jetStreamRate(ctx, natsURL, n, batch, consumers, acks, false)
}

// jetStreamPublishCeiling is jetStreamCeiling with the publishing timed
// too and done while the clients consume, as in a run of a design (the
// producer enqueues while the workers work): on a server that fsyncs every
// write, publishes and acks share the disk.
func jetStreamPublishCeiling(ctx context.Context, natsURL string, n, batch, consumers int) (float64, error) {
	return jetStreamRate(ctx, natsURL, n, batch, consumers, ackFlushed, true)
}

func jetStreamRate(ctx context.Context, natsURL string, n, batch, consumers int, acks ackStrategy, publishDuring bool) (float64, error) {
	if n < 1 || batch < 1 || batch > 1000 || consumers < 1 {
		return 0, fmt.Errorf("jetstream ceiling: n=%d batch=%d consumers=%d: want n, consumers >= 1 and batch in 1..1000",
			n, batch, consumers)
	}
	nc, err := nats.Connect(natsURL, nats.Name("marketfleet-bench-ceiling"))
	if err != nil {
		return 0, fmt.Errorf("jetstream ceiling: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("jetstream ceiling: %w", err)
	}
	if err := ceilCreateStream(ctx, js, batch*consumers); err != nil {
		return 0, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ceilCleanupTimeout)
		defer cancel()
		_ = js.DeleteStream(dctx, ceilStream)
	}()
	if !publishDuring {
		if err := ceilPublish(ctx, js, n); err != nil {
			return 0, err
		}
		took, err := ceilConsume(ctx, natsURL, n, batch, consumers, acks)
		if err != nil {
			return 0, err
		}
		return float64(n) / took.Seconds(), nil
	}
	published := make(chan error, 1)
	go func() { published <- ceilSend(ctx, js, n) }()
	took, err := ceilConsume(ctx, natsURL, n, batch, consumers, acks)
	if perr := <-published; perr != nil {
		return 0, perr
	}
	if err != nil {
		return 0, err
	}
	return float64(n) / took.Seconds(), nil
}

// ceilCreateStream (re)creates the ceiling stream and its durable pull
// consumer, configured as the task stream's (work queue, file storage,
// explicit acks, 30 s AckWait), with room for every batch in flight.
func ceilCreateStream(ctx context.Context, js jetstream.JetStream, inflight int) error {
	if err := js.DeleteStream(ctx, ceilStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("jetstream ceiling: delete leftover stream: %w", err)
	}
	cfg := jetstream.StreamConfig{
		Name:        ceilStream,
		Description: "marketfleet bench: JetStream ceiling, deleted after the measurement",
		Subjects:    []string{ceilSubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
	}
	// Right after a delete the server may still be removing the old store
	// ("error creating store for stream"): try again for a moment.
	var s jetstream.Stream
	var err error
	for try := 0; ; try++ {
		if s, err = js.CreateStream(ctx, cfg); err == nil || try == 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("jetstream ceiling: create stream: %w", err)
	}
	// A stream re-created moment after its delete has been seen to come back
	// with the old one's messages (the server still removing its store):
	// start from an empty one whatever happened.
	if err := s.Purge(ctx); err != nil {
		return fmt.Errorf("jetstream ceiling: purge stream: %w", err)
	}
	_, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ceilConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: max(1000, 2*inflight),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("jetstream ceiling: create consumer: %w", err)
	}
	return nil
}

// ceilPublish stores n envelopes on the ceiling stream, pipelined, and
// checks the stream holds them all.
func ceilPublish(ctx context.Context, js jetstream.JetStream, n int) error {
	if err := ceilSend(ctx, js, n); err != nil {
		return err
	}
	s, err := js.Stream(ctx, ceilStream)
	if err != nil {
		return fmt.Errorf("jetstream ceiling: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("jetstream ceiling: %w", err)
	}
	if info.State.Msgs != uint64(n) {
		return fmt.Errorf("jetstream ceiling: stream holds %d messages after publishing %d", info.State.Msgs, n)
	}
	return nil
}

// ceilSend publishes n envelopes on the ceiling stream, pipelined as the
// producer does (a window of 256 awaiting their acks), and returns once
// every one is stored.
func ceilSend(ctx context.Context, js jetstream.JetStream, n int) error {
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	body, err := tasks.Encode(tasks.NewCollect("BENCH", market.Interval1d, from, from.AddDate(0, 0, 30),
		"bench@ceiling", time.Now()))
	if err != nil {
		return fmt.Errorf("jetstream ceiling: encode: %w", err)
	}
	const window = 256
	futures := make([]jetstream.PubAckFuture, 0, window)
	settle := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("jetstream ceiling: publish: %w", err)
			case <-ctx.Done():
				return fmt.Errorf("jetstream ceiling: publish: %w", ctx.Err())
			}
		}
		futures = futures[:0]
		return nil
	}
	for range n {
		if len(futures) == window {
			if err := settle(); err != nil {
				return err
			}
		}
		f, err := js.PublishAsync(ceilSubject, body, jetstream.WithExpectStream(ceilStream))
		if err != nil {
			return fmt.Errorf("jetstream ceiling: publish: %w", err)
		}
		futures = append(futures, f)
	}
	return settle()
}

// ceilConsume runs the consumers and returns the time from the moment all
// of them are ready to the n-th confirmed ack.
func ceilConsume(ctx context.Context, natsURL string, n, batch, consumers int, acks ackStrategy) (time.Duration, error) {
	fetchers := make([]*queue.Fetcher, consumers)
	conns := make([]*nats.Conn, consumers)
	for i := range fetchers {
		nc, err := nats.Connect(natsURL, nats.Name(fmt.Sprintf("marketfleet-bench-ceiling/%d", i)))
		if err != nil {
			return 0, fmt.Errorf("jetstream ceiling: consumer %d: connect: %w", i, err)
		}
		defer nc.Close()
		conns[i] = nc
		js, err := jetstream.New(nc)
		if err != nil {
			return 0, fmt.Errorf("jetstream ceiling: consumer %d: %w", i, err)
		}
		cons, err := js.Consumer(ctx, ceilStream, ceilConsumer)
		if err != nil {
			return 0, fmt.Errorf("jetstream ceiling: consumer %d: %w", i, err)
		}
		if fetchers[i], err = queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: batch}); err != nil {
			return 0, fmt.Errorf("jetstream ceiling: consumer %d: %w", i, err)
		}
	}
	var acked atomic.Int64
	var end time.Time
	done := make(chan struct{})
	finish := sync.OnceFunc(func() { end = time.Now(); close(done) })
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(gctx)
	start := time.Now()
	for i, f := range fetchers {
		g.Go(func() error {
			for {
				msgs, err := f.Next(gctx)
				if err != nil {
					select {
					case <-done:
						return nil
					default:
						return fmt.Errorf("jetstream ceiling: %w", err)
					}
				}
				if err := ceilAckAll(gctx, conns[i], msgs, acks); err != nil {
					return err
				}
				if acked.Add(int64(len(msgs))) >= int64(n) {
					finish()
					cancel()
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	select {
	case <-done:
		return end.Sub(start), nil
	default:
		return 0, fmt.Errorf("jetstream ceiling: %d of %d messages acked: %w", acked.Load(), n, ctx.Err())
	}
}

// ceilAckAll acknowledges every message of a batch received on nc, as
// acks says.
func ceilAckAll(ctx context.Context, nc *nats.Conn, msgs []jetstream.Msg, acks ackStrategy) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ceilAckTimeout)
	defer cancel()
	if acks != ackConfirmed {
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				return fmt.Errorf("jetstream ceiling: ack: %w", err)
			}
		}
		if acks == ackFlushed {
			if err := nc.FlushWithContext(actx); err != nil {
				return fmt.Errorf("jetstream ceiling: confirm the acks: %w", err)
			}
		}
		return nil
	}
	var g errgroup.Group
	for _, m := range msgs {
		g.Go(func() error {
			if err := m.DoubleAck(actx); err != nil {
				return fmt.Errorf("jetstream ceiling: ack: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// upsertCeiling writes `batches` batches of `batchTasks` tasks x
// `barsPerTask` daily bars through ONE session with the real worker's write
// path (store.Open, store.WriteBars: one transaction per batch, the
// worker's unnest upsert) into the database at dbURL, which it migrates
// (store.Migrate) and which must not hold any of the rows it writes: every
// row is a fresh insert, as in a first collection. The bars come from the synthetic
// source and are generated before the clock starts; task i of every batch
// is symbol C<i>, and batch b covers the barsPerTask days after batch b-1.
//
// It returns rows/s: batches x batchTasks x barsPerTask divided by the
// time the writes took. It returns an error for arguments < 1, for a bars
// table that is not empty, when a write fails or changes fewer rows than
// it submitted, or when ctx ends first.
func upsertCeiling(ctx context.Context, dbURL string, batches, batchTasks, barsPerTask int) (float64, error) {
	if batches < 1 || batchTasks < 1 || barsPerTask < 1 {
		return 0, fmt.Errorf("upsert ceiling: batches=%d tasks=%d bars=%d: want all >= 1", batches, batchTasks, barsPerTask)
	}
	work, err := ceilBatches(ctx, batches, batchTasks, barsPerTask)
	if err != nil {
		return 0, err
	}
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: ceilApp})
	if err != nil {
		return 0, fmt.Errorf("upsert ceiling: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ceilCleanupTimeout)
		defer cancel()
		_ = db.Close(cctx)
	}()
	if _, err := db.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("upsert ceiling: %w", err)
	}
	symbols := make([]string, batchTasks)
	for t := range symbols {
		symbols[t] = ceilSymbol(t)
	}
	if n, err := db.CountBars(ctx, symbols, market.Interval1d, ceilDay0, ceilDay0.AddDate(0, 0, batches*barsPerTask)); err != nil {
		return 0, fmt.Errorf("upsert ceiling: %w", err)
	} else if n > 0 {
		return 0, fmt.Errorf("upsert ceiling: %d of the rows to write exist already: give a fresh database", n)
	}
	start := time.Now()
	rows := 0
	for i, bars := range work {
		res, err := db.WriteBars(ctx, bars)
		if err != nil {
			return 0, fmt.Errorf("upsert ceiling: batch %d: %w", i, err)
		}
		if res.Changed != int64(len(bars)) {
			return 0, fmt.Errorf("upsert ceiling: batch %d changed %d of %d rows", i, res.Changed, len(bars))
		}
		rows += len(bars)
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}

// ceilDay0 is the first day upsertCeiling writes.
var ceilDay0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ceilSymbol is the symbol of task t of every upsertCeiling batch.
func ceilSymbol(t int) string { return fmt.Sprintf("C%d", t) }

// ceilBatches generates the bars of every batch with the synthetic source.
func ceilBatches(ctx context.Context, batches, batchTasks, barsPerTask int) ([][]market.Bar, error) {
	src := &synthetic.Source{}
	out := make([][]market.Bar, batches)
	for b := range out {
		from := ceilDay0.AddDate(0, 0, b*barsPerTask)
		to := from.AddDate(0, 0, barsPerTask)
		out[b] = make([]market.Bar, 0, batchTasks*barsPerTask)
		for t := range batchTasks {
			bars, err := source.Bars(ctx, src, source.Request{Symbol: ceilSymbol(t), Interval: market.Interval1d, From: from, To: to})
			if err != nil {
				return nil, fmt.Errorf("upsert ceiling: %w", err)
			}
			out[b] = append(out[b], bars...)
		}
	}
	return out, nil
}
