package dlq_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/tasks"
)

// requestMsg is a core NATS request as a client would send it.
func requestMsg(subject, body string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Reply = "_INBOX.test"
	m.Data = []byte(body)
	m.Header.Set("Client", "nats-cli")
	m.Header.Set(jetstream.MsgIDHeader, "client-id-1")
	return m
}

func TestWriteRequestKeepsTheRequestOnceByContent(t *testing.T) {
	ctx := context.Background()
	_, js := testenv.NATS(t).Connect(t)
	if _, _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	w, admin := dlq.NewWriter(js, dlq.WriterConfig{}), dlq.NewAdmin(js, dlq.DefaultRefusedStream)
	l := dlq.Letter{Reason: "invalid request: symbols: missing", Class: outcome.Invalid, Worker: "w-1", Kind: "collect"}
	bad := requestMsg("marketfleet.request.collect", `{"symbols":[]}`)
	for range 2 { // the same bad request sent twice
		if err := w.WriteRequest(ctx, bad, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteRequest(ctx, requestMsg("marketfleet.request.collect", `{"symbols":null}`), l); err != nil {
		t.Fatal(err)
	}
	got, err := admin.List(ctx, dlq.Filter{Class: outcome.Invalid}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d dead letters for two distinct requests (one sent twice), want 2: %+v", len(got), got)
	}
	r := got[0]
	if string(r.Payload) != `{"symbols":[]}` || r.Stream != dlq.RequestStream || r.StreamSeq != 0 ||
		r.Subject != "marketfleet.request.collect" || r.Delivered != 1 || r.Worker != "w-1" ||
		r.Reason != l.Reason || r.Kind != "collect" || r.OrigMsgID != "client-id-1" || time.Since(r.DeadAt) > time.Minute {
		t.Fatalf("record = %+v", r)
	}
	if v := r.Headers["Client"]; len(v) != 1 || v[0] != "nats-cli" {
		t.Fatalf("headers = %v, want the request's own Client header", r.Headers)
	}
}

func TestRequestMsgIDDependsOnSubjectAndBodyOnly(t *testing.T) {
	base := dlq.RequestMsgID("a.b", []byte("x"))
	if !strings.HasPrefix(base, "dlq:request:") || len(base) != len("dlq:request:")+64 {
		t.Fatalf("id %q: want dlq:request:<sha256 hex>", base)
	}
	for _, tc := range []struct {
		subject, body string
	}{
		{"a.b", "y"},
		{"a.c", "x"},
		{"a.bx", ""}, // subject and body do not run together
	} {
		if id := dlq.RequestMsgID(tc.subject, []byte(tc.body)); id == base {
			t.Errorf("RequestMsgID(%q, %q) = RequestMsgID(a.b, x)", tc.subject, tc.body)
		}
	}
	if again := dlq.RequestMsgID("a.b", []byte("x")); again != base {
		t.Fatalf("not deterministic: %q then %q", base, again)
	}
}

func TestWriteRequestFailsWithoutTheStream(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := dlq.NewWriter(js, dlq.WriterConfig{}).WriteRequest(ctx, requestMsg("marketfleet.request.collect", "{"), dlq.Letter{Class: outcome.Invalid})
	if err == nil || !strings.Contains(err.Error(), "record refused request on marketfleet.request.collect") {
		t.Fatalf("err = %v, want an error naming the subject", err)
	}
}

// The flood of the issue: junk requests of 1 MB each, many times the
// refused-request stream's size, never touch a dead task; each record keeps
// 4 KiB of its request, its size and its hash.
func TestRefusedRequestsNeverEvictDeadTasks(t *testing.T) {
	ctx := context.Background()
	_, js := testenv.NATS(t).Connect(t)
	cfg := dlq.Config{MaxBytes: 1 << 20, RefusedMaxBytes: 1 << 20}
	if _, _, err := dlq.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	var failed []string
	w := dlq.NewWriter(js, dlq.WriterConfig{OnFailed: func(s string) { failed = append(failed, s) }})
	dead := publishDeadTask(t, js)
	junk := make([]byte, 1<<20)
	for i := range 300 {
		copy(junk, fmt.Sprintf("junk %04d ", i))
		if err := w.WriteRequest(ctx, requestMsg("marketfleet.request.collect", string(junk)), dlq.Letter{Reason: "invalid request: not JSON", Class: outcome.Invalid}); err != nil {
			t.Fatalf("junk %d: %v", i, err)
		}
	}
	if len(failed) != 0 {
		t.Fatalf("writes failed on %v", failed)
	}
	tasks, err := dlq.NewAdmin(js, "").List(ctx, dlq.Filter{}, 0)
	if err != nil || len(tasks) != 1 || tasks[0].Seq != dead {
		t.Fatalf("dead tasks after the flood = %d (%v), want only the one written before it", len(tasks), err)
	}
	refused, err := dlq.NewAdmin(js, dlq.DefaultRefusedStream).List(ctx, dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) < 100 || len(refused) > 300 {
		t.Fatalf("%d refused records kept in 1 MiB, want the newest ones, at most 4 KiB of each", len(refused))
	}
	last := refused[len(refused)-1]
	sum := sha256.Sum256(junk)
	if len(last.Payload) != dlq.MaxRefusedBody || !bytes.Equal(last.Payload, junk[:dlq.MaxRefusedBody]) ||
		last.BodyBytes != 1<<20 || last.BodySHA256 != hex.EncodeToString(sum[:]) || !last.Truncated() ||
		last.Stream != dlq.RequestStream || last.Reason != "invalid request: not JSON" {
		t.Fatalf("last record: %d bytes kept of %d, sha %s, truncated %v, stream %s",
			len(last.Payload), last.BodyBytes, last.BodySHA256, last.Truncated(), last.Stream)
	}
}

// publishDeadTask stores one dead letter of a task, as the runner does, and
// returns its sequence in the dead-letter stream.
func publishDeadTask(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx := context.Background()
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	cons, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	task := tasks.NewCollect("AAPL", market.Interval1d, from, from.AddDate(0, 1, 0), "dlq-test", from)
	if _, err := queue.NewPublisher(js, "").Publish(ctx, []tasks.Task{task}); err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := <-batch.Messages()
	if !ok {
		t.Fatal("no task delivered")
	}
	if err := dlq.NewWriter(js, dlq.WriterConfig{}).Write(ctx, m, dlq.Letter{Reason: "ran out", Class: outcome.Exhausted}); err != nil {
		t.Fatal(err)
	}
	recs, err := dlq.NewAdmin(js, "").List(ctx, dlq.Filter{Class: outcome.Exhausted}, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("dead letters = %v, %v", recs, err)
	}
	return recs[0].Seq
}

// A full dead-letter stream refuses the new dead letter (the caller keeps
// the task) and keeps every old one.
func TestFullDeadLetterStreamRefusesNewLetters(t *testing.T) {
	f := setup(t, queue.ConsumerConfig{})
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, dlq.DefaultStream); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dlq.EnsureStream(ctx, f.js, dlq.Config{MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	var failed []string
	w := dlq.NewWriter(f.js, dlq.WriterConfig{OnFailed: func(s string) { failed = append(failed, s) }})
	stack := strings.Repeat("x", dlq.MaxStackLen) // a letter of ~17 KiB
	var symbols []string
	for i := range 80 {
		symbols = append(symbols, fmt.Sprintf("S%d", i))
	}
	msgs := f.deliver(t, symbols...)
	stored := 0
	var werr error
	for i, m := range msgs {
		if werr = w.Write(ctx, m, dlq.Letter{Reason: "ran out", Class: outcome.Exhausted, Stack: stack, Symbol: symbols[i]}); werr != nil {
			break
		}
		stored++
	}
	if werr == nil || stored == 0 || stored == len(msgs) {
		t.Fatalf("stored %d of %d letters of ~17 KiB in 1 MiB, err %v: want the stream to fill and refuse", stored, len(msgs), werr)
	}
	if len(failed) != 1 || failed[0] != dlq.DefaultStream {
		t.Fatalf("OnFailed calls = %v, want one for %s", failed, dlq.DefaultStream)
	}
	recs, err := f.admin.List(ctx, dlq.Filter{}, 0)
	if err != nil || len(recs) != stored || recs[0].Symbol != symbols[0] {
		t.Fatalf("kept %d letters (first %+v), want the %d stored first", len(recs), recs, stored)
	}
}

// Summary counts from the stream's info, whatever its size, and reads only
// the newest records it was asked for.
func TestSummaryCountsFromStreamInfo(t *testing.T) {
	ctx := context.Background()
	_, js := testenv.NATS(t).Connect(t)
	if _, _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	// Refused requests are the quickest way to many records (no task
	// stream needed); the stream is read the same way.
	w := dlq.NewWriter(js, dlq.WriterConfig{})
	for i := range 300 {
		class := outcome.Invalid
		if i%3 == 0 {
			class = outcome.Exhausted
		}
		m := requestMsg("marketfleet.request.collect", fmt.Sprintf(`{"n":%d}`, i))
		if err := w.WriteRequest(ctx, m, dlq.Letter{Reason: fmt.Sprintf("r%d", i%7), Class: class}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := dlq.NewAdmin(js, dlq.DefaultRefusedStream).Summary(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 300 || sum.ByClass[outcome.Exhausted] != 100 || sum.ByClass[outcome.Invalid] != 200 || len(sum.Recent) != 20 ||
		string(sum.Recent[19].Payload) != `{"n":299}` || string(sum.Recent[0].Payload) != `{"n":280}` || sum.Newest.IsZero() || sum.MaxBytes != 64<<20 {
		t.Fatalf("summary: total %d, by class %v, %d recent (first %s, last %s), newest %s, cap %d",
			sum.Total, sum.ByClass, len(sum.Recent), sum.Recent[0].Payload, sum.Recent[len(sum.Recent)-1].Payload, sum.Newest, sum.MaxBytes)
	}
}
