package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/tasks"
)

type fixture struct {
	js    jetstream.JetStream
	tasks jetstream.Stream
	cons  jetstream.Consumer
	admin *dlq.Admin
	w     *dlq.Writer
}

func setup(t *testing.T, cc queue.ConsumerConfig) *fixture {
	t.Helper()
	ctx := context.Background()
	_, js := testenv.NATS(t).Connect(t)
	s, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, cc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	return &fixture{js: js, tasks: s, cons: cons, admin: dlq.NewAdmin(js, ""), w: dlq.NewWriter(js, dlq.WriterConfig{})}
}

// deliver publishes one task per symbol and returns their delivered messages.
func (f *fixture) deliver(t *testing.T, symbols ...string) []jetstream.Msg {
	t.Helper()
	var ts []tasks.Task
	for _, s := range symbols {
		from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		ts = append(ts, tasks.NewCollect(s, market.Interval1d, from, from.AddDate(0, 1, 0), "dlq-test", from))
	}
	if _, err := queue.NewPublisher(f.js, "").Publish(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	batch, err := f.cons.Fetch(len(symbols), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if len(out) != len(symbols) {
		t.Fatalf("delivered %d of %d", len(out), len(symbols))
	}
	return out
}

func TestWriteKeepsTheTaskAndWhyItDied(t *testing.T) {
	f := setup(t, queue.ConsumerConfig{})
	ctx := context.Background()
	m := f.deliver(t, "AAPL")[0]
	l := dlq.Letter{Reason: "yahoo AAPL: symbol not found at source\nsecond line", Class: outcome.NotFound, Worker: "w-1", Symbol: "AAPL", Kind: "collect"}
	if err := f.w.Write(ctx, m, l); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Write(ctx, m, l); err != nil { // a crash between dead letter and Term
		t.Fatal(err)
	}
	got, err := f.admin.List(ctx, dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d dead letters for one task written twice, want 1", len(got))
	}
	r := got[0]
	md, _ := m.Metadata()
	if string(r.Payload) != string(m.Data()) || r.Stream != queue.DefaultStream || r.StreamSeq != md.Sequence.Stream ||
		r.Subject != "marketfleet.tasks.collect" || r.Delivered != 1 || r.Worker != "w-1" || r.Class != outcome.NotFound ||
		r.Symbol != "AAPL" || r.OrigMsgID != m.Headers().Get(jetstream.MsgIDHeader) || time.Since(r.DeadAt) > time.Minute {
		t.Fatalf("record = %+v", r)
	}
	if strings.Contains(r.Reason, "\n") || !strings.Contains(r.Reason, `not found at source\nsecond line`) {
		t.Fatalf("reason %q: want one line with the newline escaped", r.Reason)
	}
}

func TestAdminFiltersReplaysAndPurges(t *testing.T) {
	f := setup(t, queue.ConsumerConfig{})
	ctx := context.Background()
	msgs := f.deliver(t, "AAA", "BBB", "CCC")
	classes := []outcome.Class{outcome.NotFound, outcome.Data, outcome.NotFound}
	for i, m := range msgs {
		sym, kind := dlq.Peek(m.Data())
		if err := f.w.Write(ctx, m, dlq.Letter{Reason: "reason " + sym, Class: classes[i], Worker: "w", Symbol: sym, Kind: kind}); err != nil {
			t.Fatal(err)
		}
		if err := m.Term(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    dlq.Filter
		want int
	}{
		{dlq.Filter{}, 3},
		{dlq.Filter{Class: outcome.NotFound}, 2},
		{dlq.Filter{Symbol: "bbb"}, 1},
		{dlq.Filter{Reason: "REASON CCC"}, 1},
		{dlq.Filter{OlderThan: time.Hour}, 0},
		{dlq.Filter{NewerThan: time.Hour}, 3},
	} {
		got, err := f.admin.List(ctx, tc.f, 0)
		if err != nil || len(got) != tc.want {
			t.Errorf("List(%+v) = %d records, %v; want %d", tc.f, len(got), err, tc.want)
		}
	}
	// Replay BBB: it is a task again, and no longer a dead letter.
	bbb, _ := f.admin.List(ctx, dlq.Filter{Symbol: "BBB"}, 0)
	fresh, err := f.admin.Replay(ctx, bbb[0])
	if err != nil || !fresh {
		t.Fatalf("Replay = %v, %v; want a new task", fresh, err)
	}
	batch, err := f.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var replayed jetstream.Msg
	for m := range batch.Messages() {
		replayed = m
	}
	if replayed == nil || string(replayed.Data()) != string(bbb[0].Payload) {
		t.Fatalf("replayed task not delivered with its original payload")
	}
	if _, err := f.admin.Get(ctx, bbb[0].Seq); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Get after replay = %v, want ErrNotFound", err)
	}
	// Purge the rest.
	rest, _ := f.admin.List(ctx, dlq.Filter{}, 0)
	for _, r := range rest {
		if err := f.admin.Purge(ctx, r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := f.admin.List(ctx, dlq.Filter{}, 0); len(left) != 0 {
		t.Fatalf("%d dead letters left after purge", len(left))
	}
	if err := f.admin.Purge(ctx, 999); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Purge(999) = %v, want ErrNotFound", err)
	}
}

// TestReaperDeadLettersTasksTheServerGaveUpOn: a task whose deliveries all
// time out (a worker that dies on it every time) ends in the dead-letter
// stream, and leaves the task stream.
func TestReaperDeadLettersTasksTheServerGaveUpOn(t *testing.T) {
	f := setup(t, queue.ConsumerConfig{MaxDeliver: 2, AckWait: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reaper, err := dlq.NewReaper(ctx, f.js, f.w, dlq.ReaperConfig{Worker: "reaper-test"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- reaper.Run(ctx) }()

	// A worker that takes the task and dies on it, again and again: it keeps
	// pulling (the server only notices MaxDeliver when someone pulls) and
	// never acks.
	f.deliver(t, "ZOMBIE")
	deadline := time.Now().Add(15 * time.Second)
	var got []dlq.Record
	for len(got) == 0 && time.Now().Before(deadline) {
		if b, err := f.cons.Fetch(1, jetstream.FetchMaxWait(300*time.Millisecond)); err == nil {
			for range b.Messages() {
			}
		}
		got, _ = f.admin.List(ctx, dlq.Filter{Class: outcome.MaxDeliveries}, 0)
	}
	if len(got) != 1 || got[0].Symbol != "ZOMBIE" || got[0].Delivered != 2 {
		t.Fatalf("dead letters = %+v, want ZOMBIE after 2 deliveries", got)
	}
	info, err := f.tasks.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for info.State.Msgs != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		info, _ = f.tasks.Info(ctx)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("task stream still holds %d messages: the dead task was not removed", info.State.Msgs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPeekIsBestEffort(t *testing.T) {
	for _, tc := range []struct{ in, sym, kind string }{
		{`{"symbol":"AAPL","kind":"collect"}`, "AAPL", "collect"},
		{`not json`, "", ""},
		{fmt.Sprintf(`{"symbol":"%s"}`, strings.Repeat("A", 100)), "", ""},
	} {
		sym, kind := dlq.Peek([]byte(tc.in))
		if sym != tc.sym || kind != tc.kind {
			t.Errorf("Peek(%q) = %q, %q", tc.in, sym, kind)
		}
	}
}

// The stack of a panic survives the trip through a header byte for byte
// (newlines and tabs included), capped at MaxStackLen; other letters carry
// none.
func TestWriteKeepsThePanicStack(t *testing.T) {
	f := setup(t, queue.ConsumerConfig{})
	ctx := context.Background()
	msgs := f.deliver(t, "BOOM", "HUGE", "PLAIN")
	stack := "goroutine 7 [running]:\nmarketfleet/source.(*X).Bars(...)\n\t/src/x.go:12 +0x1d \"quoted\" \\ é\n"
	huge := strings.Repeat("frame\n", dlq.MaxStackLen)
	for i, st := range []string{stack, huge, ""} {
		l := dlq.Letter{Reason: "panic: boom", Class: outcome.Panic, Worker: "w", Symbol: []string{"BOOM", "HUGE", "PLAIN"}[i], Stack: st}
		if st == "" {
			l.Class = outcome.Data
		}
		if err := f.w.Write(ctx, msgs[i], l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.admin.List(ctx, dlq.Filter{}, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("%d dead letters (%v), want 3", len(got), err)
	}
	bySymbol := map[string]dlq.Record{}
	for _, r := range got {
		bySymbol[r.Symbol] = r
	}
	if r := bySymbol["BOOM"]; r.Stack != stack || r.Class != outcome.Panic {
		t.Errorf("stack read back as %q, want %q", r.Stack, stack)
	}
	if r := bySymbol["HUGE"]; len(r.Stack) != dlq.MaxStackLen || !strings.HasPrefix(huge, r.Stack) {
		t.Errorf("a huge stack was kept as %d bytes, want its first %d", len(r.Stack), dlq.MaxStackLen)
	}
	if r := bySymbol["PLAIN"]; r.Stack != "" || len(r.Headers) != 0 {
		t.Errorf("a letter without a panic has stack %q and headers %v", r.Stack, r.Headers)
	}
}
