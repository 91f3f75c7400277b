package runner_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/internal/testenv"
	"marketfleet/kinds"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
	"marketfleet/tasks"
)

var day0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// bundle is everything a runner test needs, on real services.
type bundle struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	cons   jetstream.Consumer
	db     *store.Store
	admin  *pgx.Conn
	dead   *dlq.Admin
	src    *faultySource
	retry  backoff.Policy
	linger time.Duration // the Fetcher's Linger; 0: its default
	size   int           // the Fetcher's Size; 0: 10
	// features makes collect tasks enqueue features tasks (off: the
	// stream holds only what the test published).
	features bool
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	nc, js := testenv.NATS(t).Connect(t)
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	dbURL := testenv.NewDatabase(t)
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: "marketfleet-worker/runner-test",
		ConnectBackoff: backoff.Policy{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &bundle{nc: nc, js: js, cons: cons, db: db, admin: testenv.Connect(t, dbURL), dead: dlq.NewAdmin(js, ""),
		src: newFaultySource(), retry: backoff.Policy{Base: 200 * time.Millisecond, Max: time.Second}}
}

// consumer updates the workers' consumer to cc, for the runners started
// after: they read AckWait and MaxDeliver from it.
func (b *bundle) consumer(t *testing.T, cc queue.ConsumerConfig) {
	t.Helper()
	cons, err := queue.EnsureConsumer(context.Background(), b.js, queue.DefaultStream, cc)
	if err != nil {
		t.Fatal(err)
	}
	b.cons = cons
}

// start runs a runner until the returned stop is called; stop returns Run's
// result.
func (b *bundle) start(t *testing.T, cfg runner.Config) (stop func() error) {
	t.Helper()
	f, err := queue.NewFetcher(b.cons, nil, queue.FetcherConfig{Size: cmp.Or(b.size, 10), MaxWait: 200 * time.Millisecond, Linger: b.linger})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retry = b.retry
	if cfg.Kinds == nil {
		cfg.Kinds = kinds.Register(kinds.Config{Source: b.src, Features: b.features, RequestedBy: "worker/runner-test"})
	}
	cfg.FollowUps = queue.NewPublisher(b.js, "")
	if cfg.Confirm == nil {
		cfg.Confirm = b.nc.FlushWithContext
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = "runner-test"
	}
	r, err := runner.New(f, b.db, dlq.NewWriter(b.js, dlq.WriterConfig{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Background(t, "Run", r.Run)
}

func (b *bundle) publish(t *testing.T, symbols ...string) {
	t.Helper()
	ts := make([]tasks.Task, len(symbols))
	for i, s := range symbols {
		ts[i] = tasks.NewCollect(s, market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", time.Now())
	}
	if _, err := queue.NewPublisher(b.js, "").Publish(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

// waitEmpty waits until the stream holds no message (all acked or
// terminated) and nothing is pending on the consumer.
func (b *bundle) waitEmpty(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := b.js.Stream(context.Background(), queue.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream still holds %d tasks after %s", info.State.Msgs, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bundle) barsOf(t *testing.T, symbol string) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = $1`, symbol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// terminations collects MSG_TERMINATED advisories: stream sequence -> reason.
func (b *bundle) terminations(t *testing.T) func() map[uint64]string {
	t.Helper()
	var mu sync.Mutex
	got := map[uint64]string{}
	sub, err := b.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>", func(m *nats.Msg) {
		var adv struct {
			StreamSeq uint64 `json:"stream_seq"`
			Reason    string `json:"reason"`
		}
		if json.Unmarshal(m.Data, &adv) == nil {
			mu.Lock()
			got[adv.StreamSeq] = adv.Reason
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() map[uint64]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[uint64]string{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// faultySource is the synthetic source with injectable failures per symbol.
type faultySource struct {
	inner  *synthetic.Source
	mu     sync.Mutex
	fail   map[string][]error // errors to return, in order, before succeeding
	calls  map[string][]time.Time
	reqs   map[string][]source.Request
	hook   func(symbol string)
	mangle map[string]func([]market.Bar) []market.Bar
	// block makes that many calls for a symbol hang until their context
	// ends, like a source that never answers.
	block map[string]int
}

func newFaultySource() *faultySource {
	return &faultySource{inner: &synthetic.Source{}, fail: map[string][]error{}, calls: map[string][]time.Time{},
		reqs: map[string][]source.Request{}, mangle: map[string]func([]market.Bar) []market.Bar{}, block: map[string]int{}}
}

func (f *faultySource) Name() string { return "synthetic" }

func (f *faultySource) Fetch(ctx context.Context, req source.Request) (source.Response, error) {
	f.mu.Lock()
	f.calls[req.Symbol] = append(f.calls[req.Symbol], time.Now())
	f.reqs[req.Symbol] = append(f.reqs[req.Symbol], req)
	var err error
	if errs := f.fail[req.Symbol]; len(errs) > 0 {
		err, f.fail[req.Symbol] = errs[0], errs[1:]
	}
	hook, mangle := f.hook, f.mangle[req.Symbol]
	block := f.block[req.Symbol] > 0
	if block {
		f.block[req.Symbol]--
	}
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return source.Response{}, fmt.Errorf("source: %w", ctx.Err())
	}
	if hook != nil {
		hook(req.Symbol)
	}
	if err != nil {
		return source.Response{}, err
	}
	resp, err := f.inner.Fetch(ctx, req)
	if mangle != nil {
		resp.Bars = mangle(resp.Bars)
	}
	return resp, err
}

func (f *faultySource) requests(symbol string) []source.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]source.Request(nil), f.reqs[symbol]...)
}

func (f *faultySource) callTimes(symbol string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[symbol]...)
}

func TestRunAppliesEveryTaskAndStopsCleanly(t *testing.T) {
	b := setup(t)
	symbols := make([]string, 37)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("T%03d", i)
	}
	b.publish(t, symbols...)
	leaks := goleak.IgnoreCurrent()
	// Every batch's acks are confirmed by one flush that succeeds.
	var confirmed, failed atomic.Int64
	stop := b.start(t, runner.Config{Confirm: func(ctx context.Context) error {
		err := b.nc.FlushWithContext(ctx)
		if err != nil {
			failed.Add(1)
		} else {
			confirmed.Add(1)
		}
		return err
	}})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancellation", err)
	}
	if confirmed.Load() == 0 || failed.Load() != 0 {
		t.Fatalf("ack confirmations: %d succeeded, %d failed; want some and no failure", confirmed.Load(), failed.Load())
	}
	var n, distinct int
	if err := b.admin.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (symbol, ts)) FROM bars`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 37*30 || distinct != n {
		t.Fatalf("bars = %d (%d distinct), want %d", n, distinct, 37*30)
	}
	info, err := b.cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Fatalf("consumer: ack pending %d, pending %d, redelivered %d; want all 0", info.NumAckPending, info.NumPending, info.NumRedelivered)
	}
	goleak.VerifyNone(t, leaks)
}

func TestPermanentFailuresAreTerminatedAndSpareTheBatch(t *testing.T) {
	b := setup(t)
	terms := b.terminations(t)
	b.src.fail["GONE"] = []error{fmt.Errorf("yahoo GONE: %w", source.ErrNotFound)}
	b.src.mangle["BADROW"] = func(bars []market.Bar) []market.Bar {
		bars[0].Symbol = "" // garbage: refused before the database sees it
		return bars
	}
	b.publish(t, "AAPL", "GONE", "MSFT", "BADROW", "IBM")
	// An envelope no producer of ours would write.
	if _, err := b.js.Publish(context.Background(), queue.Subject(tasks.KindCollect), []byte(`{"v":99}`)); err != nil {
		t.Fatal(err)
	}
	stop := b.start(t, runner.Config{})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"AAPL", "MSFT", "IBM"} {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("%s has %d bars, want 30: a bad task hurt its batch", s, n)
		}
	}
	if n := b.barsOf(t, "BADROW"); n != 0 {
		t.Errorf("BADROW has %d bars committed, want 0", n)
	}
	if n := len(b.src.callTimes("GONE")); n != 1 {
		t.Errorf("GONE fetched %d times, want 1 (permanent: never retried)", n)
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		got = got[:0]
		for _, r := range terms() {
			got = append(got, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"invalid:", "not_found:", "bad_data:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("termination reasons %q lack %q", joined, want)
		}
	}
	letters, err := b.dead.List(context.Background(), dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	byClass := map[outcome.Class]dlq.Record{}
	for _, l := range letters {
		byClass[l.Class] = l
	}
	if len(letters) != 3 || len(byClass) != 3 {
		t.Fatalf("dead letters = %+v, want one each of invalid, not_found, bad_data", letters)
	}
	if r := byClass[outcome.Invalid]; string(r.Payload) != `{"v":99}` || r.Delivered != 1 || r.Worker != "runner-test" {
		t.Errorf("invalid dead letter = %+v, want the original payload after one delivery", r)
	}
	if r := byClass[outcome.NotFound]; r.Symbol != "GONE" || !strings.Contains(r.Reason, "symbol not found") || r.OrigMsgID == "" {
		t.Errorf("not_found dead letter = %+v", r)
	}
	if r := byClass[outcome.BadData]; r.Symbol != "BADROW" || !strings.Contains(r.Reason, "bar 1 is of /1d") {
		t.Errorf("bad_data dead letter = %+v, want BADROW naming its first bar", r)
	}
}

func TestTransientFailureOnTheLastDeliveryIsDeadLettered(t *testing.T) {
	b := setup(t)
	b.retry = backoff.Policy{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	b.consumer(t, queue.ConsumerConfig{MaxDeliver: 3})
	b.src.fail["DOWN"] = []error{errors.New("HTTP 500 (1)"), errors.New("HTTP 500 (2)"), errors.New("HTTP 503 (3)"), errors.New("never reached")}
	b.publish(t, "DOWN", "UP")
	stop := b.start(t, runner.Config{})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.src.callTimes("DOWN")); n != 3 {
		t.Fatalf("DOWN fetched %d times, want MaxDeliver = 3", n)
	}
	letters, err := b.dead.List(context.Background(), dlq.Filter{Symbol: "down"}, 0)
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters for DOWN = %+v, %v; want one", letters, err)
	}
	if l := letters[0]; l.Class != outcome.Exhausted || l.Delivered != 3 || !strings.Contains(l.Reason, "HTTP 503 (3)") {
		t.Fatalf("dead letter = %+v, want class exhausted after 3 deliveries with the last error", l)
	}
	if b.barsOf(t, "UP") != 30 {
		t.Fatal("UP was not applied")
	}
}

func TestTransientFailureIsRetriedAfterADelay(t *testing.T) {
	b := setup(t)
	b.src.fail["FLAKY"] = []error{errors.New("connection reset by peer"), errors.New("HTTP 503")}
	b.publish(t, "FLAKY", "STEADY")
	stop := b.start(t, runner.Config{})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := b.src.callTimes("FLAKY")
	if len(calls) != 3 {
		t.Fatalf("FLAKY fetched %d times, want 3 (two failures, then success)", len(calls))
	}
	// NakWithDelay with equal jitter: at least half the policy's ceiling
	// (200ms, then 400ms) passes between deliveries.
	if d := calls[1].Sub(calls[0]); d < 100*time.Millisecond {
		t.Errorf("first retry after %s, want >= 100ms", d)
	}
	if d := calls[2].Sub(calls[1]); d < 200*time.Millisecond {
		t.Errorf("second retry after %s, want >= 200ms", d)
	}
	if b.barsOf(t, "FLAKY") != 30 || b.barsOf(t, "STEADY") != 30 {
		t.Fatal("bars missing after retries")
	}
	if n := len(b.src.callTimes("STEADY")); n != 1 {
		t.Errorf("STEADY fetched %d times, want 1: a transient failure of another task delayed it", n)
	}
}

func TestShutdownFinishesTheBatchInHand(t *testing.T) {
	b := setup(t)
	started := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	b.src.hook = func(string) {
		once.Do(func() { close(started) })
		<-release
	}
	symbols := []string{"A1", "A2", "A3", "A4", "A5"}
	b.publish(t, symbols...)
	// All five must be in the batch in hand: the batch waits for its pull
	// to end instead of the default 5 ms, which a loaded machine can miss
	// (the rest would then rightly go back unstarted).
	b.linger = time.Second
	stop := b.start(t, runner.Config{Tuning: runner.Tuning{Grace: 10 * time.Second}})
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // SIGTERM while the batch is fetching
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for _, s := range symbols {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("%s has %d bars after shutdown, want 30: the batch in hand was not finished", s, n)
		}
	}
	info, err := b.cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("after shutdown: %d ack pending, %d pending; want 0", info.NumAckPending, info.NumPending)
	}
}

func TestSlowBatchSendsInProgress(t *testing.T) {
	b := setup(t)
	// A batch of 3s would be redelivered without InProgress.
	b.consumer(t, queue.ConsumerConfig{AckWait: 2 * time.Second})
	running := make(chan struct{})
	b.src.hook = func(string) { close(running); time.Sleep(3 * time.Second) }
	b.publish(t, "SLOW")
	stop := b.start(t, runner.Config{})
	// Another worker pulls while SLOW runs: it must never be handed SLOW.
	<-running
	stolen := make(chan int, 1)
	go func() {
		n := 0
		for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); {
			batch, err := b.cons.Fetch(1, jetstream.FetchMaxWait(300*time.Millisecond))
			if err != nil {
				continue
			}
			for m := range batch.Messages() {
				n++
				_ = m.Nak()
			}
		}
		stolen <- n
	}()
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := <-stolen; n != 0 {
		t.Fatalf("another worker was handed the running task %d times: no InProgress", n)
	}
}

// TestLostSessionMidTransactionReplaysTheBatch terminates the worker's
// backend between the upsert and the commit: the batch is replayed on a new
// session, without a redelivery and without fetching again.
func TestLostSessionMidTransactionReplaysTheBatch(t *testing.T) {
	b := setup(t)
	var once sync.Once
	var victim uint32
	terminate := func(context.Context) {
		once.Do(func() {
			if err := b.admin.QueryRow(context.Background(),
				`SELECT pid FROM pg_stat_activity WHERE application_name = 'marketfleet-worker/runner-test'`).Scan(&victim); err != nil {
				t.Error(err)
				return
			}
			if _, err := b.admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, victim); err != nil {
				t.Error(err)
			}
		})
	}
	symbols := []string{"R1", "R2", "R3", "R4"}
	b.publish(t, symbols...)
	stop := b.start(t, runner.Config{Faults: runner.Faults{BeforeCommit: terminate}})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if victim == 0 {
		t.Fatal("the backend was never terminated: the fault did not fire")
	}
	if pid := b.db.BackendPID(); pid == victim || pid == 0 {
		t.Fatalf("backend pid %d after the fault, terminated %d: want a new session", pid, victim)
	}
	for _, s := range symbols {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("%s: %d bars, want 30", s, n)
		}
		if n := len(b.src.callTimes(s)); n != 1 {
			t.Errorf("%s fetched %d times, want 1: the batch was redelivered instead of replayed", s, n)
		}
	}
	info, err := b.cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Fatalf("%d redelivered, want 0", info.NumRedelivered)
	}
}

// A task whose source never answers is cut at its own deadline: the rest
// of its batch is committed without it, and it is retried alone (its own
// delivery, its own delay) with the deadline as its reason.
func TestSlowTaskIsCutAtItsDeadlineAndRetriedAlone(t *testing.T) {
	b := setup(t)
	b.src.block["SLOW"] = 1
	logs := &testenv.Buffer{}
	b.publish(t, "FAST1", "SLOW", "FAST2")
	stop := b.start(t, runner.Config{Logger: zerolog.New(logs),
		Kinds: kinds.Register(kinds.Config{Source: b.src, RequestedBy: "worker/runner-test", Deadline: 500 * time.Millisecond})})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	testenv.Eventually(t, 10*time.Second, "the fast tasks stored", func() bool { return b.barsOf(t, "FAST1") == 30 && b.barsOf(t, "FAST2") == 30 })
	b.waitEmpty(t, 10*time.Second)
	if n := b.barsOf(t, "SLOW"); n != 30 {
		t.Fatalf("SLOW: %d bars after its retry, want 30", n)
	}
	lines := logs.Lines("task will be retried")
	if len(lines) != 1 || lines[0]["symbol"] != "SLOW" || lines[0]["class"] != "transient" ||
		!strings.Contains(lines[0]["error"].(string), "task deadline passed (500ms, FLEET_TASK_DEADLINE)") ||
		strings.Contains(lines[0]["error"].(string), "bad_data") {
		t.Fatalf("retry lines = %v, want SLOW's alone, saying its deadline passed", lines)
	}
	if calls := b.src.callTimes("SLOW"); len(calls) != 2 {
		t.Fatalf("SLOW fetched %d times, want 2 (cut, then retried)", len(calls))
	}
}

// A task the fleet defers (its limiter held it back before it reached the
// source) is never dead-lettered for it: deferred on its last delivery, it
// is put back at the end of the queue as a new message, and completes once
// the source may be asked; requeuing the same delivery twice stores one copy.
func TestDeferredTaskIsRequeuedNotExhausted(t *testing.T) {
	b := setup(t)
	b.consumer(t, queue.ConsumerConfig{MaxDeliver: 2})
	deferred := func(i int) error {
		return outcome.Mark(outcome.Deferred, outcome.RetryAfter(20*time.Millisecond, fmt.Errorf("breaker open (%d)", i)))
	}
	b.src.fail["HELD"] = []error{deferred(1), deferred(2), deferred(3), deferred(4), deferred(5)}
	b.publish(t, "HELD")
	stop := b.start(t, runner.Config{})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.src.callTimes("HELD")); n != 6 {
		t.Fatalf("HELD fetched %d times, want 6 (5 deferrals over 3 messages of 2 deliveries, then stored)", n)
	}
	if letters, err := b.dead.List(context.Background(), dlq.Filter{}, 0); err != nil || len(letters) != 0 {
		t.Fatalf("dead letters %+v, %v; want none", letters, err)
	}
	if b.barsOf(t, "HELD") != 30 {
		t.Fatal("HELD was not stored")
	}
	// The requeue of one delivery is idempotent.
	b.publish(t, "TWICE")
	msgs, err := b.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := <-msgs.Messages()
	if m == nil {
		t.Fatal("no message to requeue")
	}
	pub := queue.NewPublisher(b.js, "")
	for range 2 {
		if err := pub.Requeue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.js.Stream(context.Background(), queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(context.Background()); err != nil || info.State.Msgs != 2 {
		t.Fatalf("stream holds %v messages (%v); want the original and one requeued copy", info.State.Msgs, err)
	}
}
