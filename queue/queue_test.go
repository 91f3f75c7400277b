package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/tasks"
)

var day0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func collectTasks(n int) []tasks.Task {
	ts := make([]tasks.Task, n)
	for i := range ts {
		ts[i] = tasks.NewCollect(fmt.Sprintf("S%04d", i), market.Interval1d, day0, day0.AddDate(0, 1, 0), "queue-test", time.Now())
	}
	return ts
}

func setup(t *testing.T) (jetstream.JetStream, jetstream.Consumer) {
	t.Helper()
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return js, cons
}

func TestEnsureIsIdempotentUnderRace(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
				errs <- err
				return
			}
			if _, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent ensure: %v", err)
	}
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Retention != jetstream.WorkQueuePolicy || cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardNew {
		t.Fatalf("stream config = %+v, want work queue, file storage, discard new", cfg)
	}
	c, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CachedInfo().Config
	if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.MaxAckPending != 15000 || cc.MaxDeliver != 10 || cc.AckWait != 30*time.Second {
		t.Fatalf("consumer config = %+v", cc)
	}
}

func TestEnsureRejectsBadConfig(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{Replicas: 9}); !errors.Is(err, queue.ErrInvalidConfig) {
		t.Fatalf("EnsureStream(replicas 9) = %v, want ErrInvalidConfig", err)
	}
	if _, err := queue.EnsureConsumer(context.Background(), js, "X", queue.ConsumerConfig{AckWait: time.Millisecond}); !errors.Is(err, queue.ErrInvalidConfig) {
		t.Fatalf("EnsureConsumer(ack wait 1ms) = %v, want ErrInvalidConfig", err)
	}
}

func TestPublishCountsDuplicates(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	p := queue.NewPublisher(js, "")
	ts := collectTasks(600) // more than one publish window
	res, err := p.Publish(ctx, ts)
	if err != nil || res != (queue.Result{Accepted: 600}) {
		t.Fatalf("first publish = %+v, %v; want 600 accepted", res, err)
	}
	// Same requests from someone else, later: same ids, so all duplicates.
	again := collectTasks(600)
	for i := range again {
		again[i].RequestedBy = "someone-else"
	}
	res, err = p.Publish(ctx, again)
	if err != nil || res != (queue.Result{Duplicates: 600}) {
		t.Fatalf("second publish = %+v, %v; want 600 duplicates", res, err)
	}
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 600 {
		t.Fatalf("stream holds %d messages (%v), want 600", info.State.Msgs, err)
	}
}

// A group of tasks is stored as one atomic batch (one fsync on a server
// that syncs every write): consecutive sequences, the batch's id on every
// message. A group with a duplicate in it goes one message at a time and
// reports exactly that one as a duplicate.
func TestPublishStoresAGroupAsOneAtomicBatch(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	p := queue.NewPublisher(js, "")
	ts := collectTasks(300) // more than one group of 256
	outs, res, err := p.PublishEach(ctx, ts)
	if err != nil || res != (queue.Result{Accepted: 300}) || len(outs) != 300 {
		t.Fatalf("PublishEach = %d outcomes, %+v, %v; want 300 accepted", len(outs), res, err)
	}
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	batches := map[string]int{}
	for i, o := range outs {
		if o.Seq != uint64(i+1) || o.Duplicate || o.MsgID != ts[i].MsgID() {
			t.Fatalf("outcome %d = %+v; want seq %d, new, id %s", i, o, i+1, ts[i].MsgID())
		}
		m, err := s.GetMsg(ctx, o.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != o.MsgID {
			t.Fatalf("message %d holds id %q, want %q", o.Seq, m.Header.Get(jetstream.MsgIDHeader), o.MsgID)
		}
		batches[m.Header.Get("Nats-Batch-Id")]++
	}
	if len(batches) != 2 || batches[""] != 0 {
		t.Fatalf("messages by batch id: %v; want two atomic batches (256 and 44)", batches)
	}
	// 3 new tasks around one already stored.
	mixed := append(collectTasks(0), ts[7])
	for i := range 3 {
		mixed = append(mixed, tasks.NewCollect(fmt.Sprintf("N%04d", i), market.Interval1d, day0, day0.AddDate(0, 1, 0), "queue-test", time.Now()))
	}
	outs, res, err = p.PublishEach(ctx, mixed)
	if err != nil || res != (queue.Result{Accepted: 3, Duplicates: 1}) {
		t.Fatalf("PublishEach(one duplicate, three new) = %+v, %v", res, err)
	}
	if !outs[0].Duplicate || outs[0].Seq != 8 || outs[1].Duplicate || outs[3].Seq != 303 {
		t.Fatalf("outcomes %+v: want the first a duplicate of seq 8, the rest new at 301..303", outs)
	}
}

// A task that came in an atomic batch can be requeued: the copy is a
// message of its own, not a stray member of the old batch.
func TestRequeueATaskThatCameInABatch(t *testing.T) {
	js, cons := setup(t)
	ctx := context.Background()
	p := queue.NewPublisher(js, "")
	if _, err := p.Publish(ctx, collectTasks(3)); err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range b.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 3 || msgs[0].Headers().Get("Nats-Batch-Id") == "" {
		t.Fatalf("fetched %d messages (batch id %q), want the 3 of one atomic batch", len(msgs), msgs[0].Headers().Get("Nats-Batch-Id"))
	}
	for _, i := range []int{1, 0} { // a middle one first, alone
		if err := p.Requeue(ctx, msgs[i]); err != nil {
			t.Fatalf("Requeue(message %d of the batch) = %v", i+1, err)
		}
		if err := msgs[i].DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 3 { // the third original and the two copies
		t.Fatalf("stream holds %d messages (%v), want 3", info.State.Msgs, err)
	}
}

// A stream without atomic batches (FLEET_STREAM_BATCHES=false, or one
// created by an earlier version) gets every task, one message at a time:
// the publisher reads the stream's config and does not try.
func TestPublishToAStreamWithoutBatches(t *testing.T) {
	nc, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	wire, err := nc.SubscribeSync(queue.SubjectPrefix + ".>") // every publish, stored or refused
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{SkipBatches: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedInfo().Config.AllowAtomicPublish {
		t.Fatal("stream created with SkipBatches allows atomic batches")
	}
	p := queue.NewPublisher(js, "")
	for range 2 {
		res, err := p.Publish(ctx, collectTasks(300))
		if err != nil || res.Accepted+res.Duplicates != 300 {
			t.Fatalf("Publish = %+v, %v; want 300 stored or duplicates", res, err)
		}
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 300 {
		t.Fatalf("stream holds %d messages (%v), want 300", info.State.Msgs, err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get("Nats-Batch-Id"); id != "" {
		t.Fatalf("message 1 came in batch %q on a stream that refuses them", id)
	}
	for seen := 0; seen < 600; seen++ {
		msg, err := wire.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%d publishes seen on the wire, want 600: %v", seen, err)
		}
		if msg.Header.Get("Nats-Batch-Id") != "" {
			t.Fatal("the publisher sent a batch to a stream that does not allow them: it should read the stream's config first")
		}
	}
}

func TestPublishRejectsInvalidTaskBeforeSending(t *testing.T) {
	js, _ := setup(t)
	ts := collectTasks(3)
	ts[2].Symbol = "not a symbol"
	res, err := queue.NewPublisher(js, "").Publish(context.Background(), ts)
	if !errors.Is(err, tasks.ErrInvalid) || res != (queue.Result{}) {
		t.Fatalf("Publish with an invalid task = %+v, %v; want ErrInvalid and nothing sent", res, err)
	}
}

func TestFetcherBatches(t *testing.T) {
	js, cons := setup(t)
	ctx := context.Background()
	if _, err := queue.NewPublisher(js, "").Publish(ctx, collectTasks(25)); err != nil {
		t.Fatal(err)
	}
	// A generous linger: under a loaded test run the messages of one pull
	// can arrive more than the default 5ms apart.
	f, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 5 * time.Second, Linger: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(f)
	var sizes []int
	seen := map[string]bool{}
	for total := 0; total < 25; {
		msgs, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 10 {
			t.Fatalf("batch of %d, want at most 10", len(msgs))
		}
		for _, m := range msgs {
			task, err := tasks.Decode(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			if seen[task.Symbol] {
				t.Fatalf("%s delivered twice", task.Symbol)
			}
			seen[task.Symbol] = true
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		sizes = append(sizes, len(msgs))
		total += len(msgs)
	}
	if len(sizes) != 3 || sizes[0] != 10 || sizes[1] != 10 {
		t.Fatalf("batch sizes = %v, want [10 10 5]", sizes)
	}
}

func TestFetcherReturnsALoneTaskWithoutWaitingForThePullToExpire(t *testing.T) {
	js, cons := setup(t)
	ctx := context.Background()
	f, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(f)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = queue.NewPublisher(js, "").Publish(ctx, collectTasks(1))
	}()
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := f.Next(ctx2)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Next = %d msgs, %v; want 1 before the 30s pull expired", len(msgs), err)
	}
}

func TestFetcherDrainReturnsUnstartedMessages(t *testing.T) {
	js, cons := setup(t)
	f, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 500 * time.Millisecond, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(f)
	ctx := context.Background()
	// Open a pull, then stop waiting on it: the pull is still open.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = f.Next(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue = %v, want deadline exceeded", err)
	}
	if _, err := queue.NewPublisher(js, "").Publish(ctx, collectTasks(3)); err != nil {
		t.Fatal(err)
	}
	msgs := f.Drain(ctx)
	if len(msgs) != 3 {
		t.Fatalf("Drain returned %d messages, want the 3 delivered to the open pull", len(msgs))
	}
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	// Nak'ed messages are immediately available to others.
	f2, _ := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 5 * time.Second, Linger: 50 * time.Millisecond})
	defer stop(f2)
	got, err := f2.Next(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("after Nak, Next = %d, %v; want 3", len(got), err)
	}
}

func TestFullStreamRefusesNewTasksAndKeepsQueuedOnes(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	s, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = queue.NewPublisher(js, "").Publish(ctx, collectTasks(8000)) // ~2 MB of envelopes
	if err == nil {
		t.Fatal("publishing 2 MB into a 1 MiB stream succeeded")
	}
	if !strings.Contains(err.Error(), "maximum bytes exceeded") {
		t.Errorf("error %q does not say the stream is full", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 1 || info.State.Msgs == 0 || info.State.Msgs != info.State.LastSeq {
		t.Fatalf("stream state %+v: queued tasks were dropped to make room", info.State)
	}
}

// TestEnsureSendsNoUpdateWhenNothingChanged: a fleet restarting does not
// rewrite the stream configuration on every start; a process with other
// stream settings leaves the stream alone and is told how it differs
// (both values); ApplyStream changes it; a consumer change is applied.
func TestEnsureSendsNoUpdateWhenNothingChanged(t *testing.T) {
	nc, js := testenv.NATS(t).Connect(t)
	ctx := context.Background()
	var mu sync.Mutex
	updates := 0
	sub, err := nc.Subscribe("$JS.EVENT.ADVISORY.*.UPDATED.>", func(*nats.Msg) { mu.Lock(); updates++; mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ensure := func(sc queue.StreamConfig, cc queue.ConsumerConfig) jetstream.Consumer {
		if _, _, err := queue.EnsureStream(ctx, js, sc); err != nil {
			t.Fatal(err)
		}
		c, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, cc)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	count := func() int {
		_ = nc.Flush()
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return updates
	}
	for i := 0; i < 3; i++ {
		ensure(queue.StreamConfig{}, queue.ConsumerConfig{})
	}
	if n := count(); n != 0 {
		t.Fatalf("%d stream update advisories for an unchanged configuration, want 0", n)
	}
	c := ensure(queue.StreamConfig{MaxBytes: 1 << 20}, queue.ConsumerConfig{AckWait: time.Minute})
	if n := count(); n != 0 {
		t.Fatalf("%d stream update advisories from a process with another MaxBytes, want 0", n)
	}
	if got := c.CachedInfo().Config.AckWait; got != time.Minute {
		t.Fatalf("consumer AckWait = %s after asking for 1m", got)
	}
	s, drift, err := queue.EnsureStream(ctx, js, queue.StreamConfig{MaxBytes: 1 << 20})
	if err != nil || s.CachedInfo().Config.MaxBytes != 1<<30 || len(drift) != 1 ||
		drift[0] != "max_bytes: the stream has 1073741824, this process wants 1048576" {
		t.Fatalf("EnsureStream with MaxBytes 1 MiB: stream max_bytes %d, drift %q, %v; want the stream untouched and both values named",
			s.CachedInfo().Config.MaxBytes, drift, err)
	}
	applied, err := queue.ApplyStream(ctx, js, queue.StreamConfig{MaxBytes: 2 << 30})
	if err != nil || len(applied) != 1 {
		t.Fatalf("ApplyStream = %q, %v", applied, err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d stream update advisories after ApplyStream, want 1", n)
	}
	if s, err := js.Stream(ctx, queue.DefaultStream); err != nil || s.CachedInfo().Config.MaxBytes != 2<<30 {
		t.Fatalf("after ApplyStream: %v, want max_bytes 2 GiB", err)
	}
}

func TestBacklogOfReportsTheOldestWaitingTask(t *testing.T) {
	js, cons := setup(t)
	ctx := context.Background()
	b, err := queue.BacklogOf(ctx, js, queue.DefaultStream, queue.DefaultConsumer)
	if err != nil || b.Pending != 0 || !b.OldestWaiting.IsZero() {
		t.Fatalf("empty backlog = %+v, %v", b, err)
	}
	if _, err := queue.NewPublisher(js, "").Publish(ctx, collectTasks(5)); err != nil {
		t.Fatal(err)
	}
	first := time.Now()
	time.Sleep(50 * time.Millisecond)
	if _, err := queue.NewPublisher(js, "").Publish(ctx, collectTasks(8)[5:]); err != nil {
		t.Fatal(err)
	}
	// Deliver (and settle) the first two: the oldest waiting is the third.
	f, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(f)
	msgs, err := f.Next(ctx)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %d, %v", len(msgs), err)
	}
	for _, m := range msgs {
		_ = m.DoubleAck(ctx)
	}
	b, err = queue.BacklogOf(ctx, js, queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pending != 6 || b.OldestWaiting.IsZero() || b.OldestWaiting.After(first) || time.Since(b.OldestWaiting) > 10*time.Second {
		t.Fatalf("backlog = %+v, want 6 pending, the oldest published before %s", b, first)
	}
	if _, err := queue.BacklogOf(ctx, js, queue.DefaultStream, "nobody"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("missing consumer: %v, want ErrConsumerNotFound", err)
	}
}

// Messages the open pull delivers while the caller is busy with a batch
// (not in Next) are kept alive: after almost two AckWaits they come out of
// the next Next on their first delivery, and the server redelivered
// nothing.
func TestFetcherKeepsLateMessagesAlive(t *testing.T) {
	cons, f, pub := keeperFixture(t, 10*time.Second)
	ctx := context.Background()
	// The caller is busy now; three more tasks reach the open pull.
	more := collectTasks(4)[1:]
	if _, err := pub.Publish(ctx, more); err != nil {
		t.Fatal(err)
	}
	busy := time.Now().Add(1800 * time.Millisecond) // 1.8 AckWaits of being busy
	testenv.Eventually(t, 10*time.Second, "the busy stretch is over", func() bool { return time.Now().After(busy) })
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Fatalf("%d messages redelivered while this fetcher held them", info.NumRedelivered)
	}
	msgs, err := f.Next(ctx)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Next after the busy stretch = %d, %v; want the 3 late tasks", len(msgs), err)
	}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil || md.NumDelivered != 1 {
			t.Fatalf("a task delivered %d times (%v), want once", md.NumDelivered, err)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.Drain(ctx)
}

// A caller that does not come back for two AckWaits (its database is down)
// is not about to start what the open pull delivered: the keeper Naks
// those messages, and another worker takes them.
func TestFetcherReturnsLateMessagesOfAnAbsentCaller(t *testing.T) {
	cons, _, pub := keeperFixture(t, 500*time.Millisecond)
	ctx := context.Background()
	if _, err := pub.Publish(ctx, collectTasks(3)[1:]); err != nil { // onto the open pull
		t.Fatal(err)
	}
	// The caller stays away; another worker's fetcher gets the two tasks
	// once the keeper gave them back (after 2 AckWaits), on their second
	// delivery.
	other, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 500 * time.Millisecond, Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(other)
	start := time.Now()
	var got []jetstream.Msg
	testenv.Eventually(t, 10*time.Second, "the other fetcher gets the two tasks", func() bool {
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		msgs, _ := other.Next(nctx)
		got = append(got, msgs...)
		return len(got) >= 2
	})
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("given back after %s, want after about 2 AckWaits (kept alive until then)", took)
	}
	for _, m := range got {
		if md, err := m.Metadata(); err != nil || md.NumDelivered != 2 {
			t.Fatalf("task delivered %d times (%v), want twice (the absent caller's, then this one)", md.NumDelivered, err)
		}
		_ = m.DoubleAck(ctx)
	}
}

// keeperFixture is a consumer with a 1s AckWait and a Fetcher on it whose
// first Next returned the one task published, settled by the test: the
// pull (maxWait) is still open for the tasks published next.
func keeperFixture(t *testing.T, maxWait time.Duration) (jetstream.Consumer, *queue.Fetcher, *queue.Publisher) {
	t.Helper()
	js, _ := setup(t)
	ctx := context.Background()
	if err := js.DeleteConsumer(ctx, queue.DefaultStream, queue.DefaultConsumer); err != nil {
		t.Fatal(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: maxWait, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(f) })
	pub := queue.NewPublisher(js, "")
	if _, err := pub.Publish(ctx, collectTasks(1)); err != nil {
		t.Fatal(err)
	}
	first, err := f.Next(ctx)
	if err != nil || len(first) != 1 {
		t.Fatalf("Next = %d, %v", len(first), err)
	}
	if err := first[0].DoubleAck(ctx); err != nil { // the caller's own batch: settled by it
		t.Fatal(err)
	}
	return cons, f, pub
}

// stop ends f's keeper (Drain, without waiting for its pull to expire):
// the leak check holds every test to it.
func stop(f *queue.Fetcher) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	f.Drain(ctx)
}
