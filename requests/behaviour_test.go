package requests_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/requests"
	"marketfleet/tasks"
)

func checkReply(t *testing.T, r requests.Reply, accepted, duplicates int, prio string, ids []string) {
	t.Helper()
	if r.Accepted != accepted || r.Duplicates != duplicates || len(r.Tasks) != len(ids) {
		t.Fatalf("reply = %+v, want %d accepted, %d duplicates, %d tasks", r, accepted, duplicates, len(ids))
	}
	status := requests.StatusAccepted
	if duplicates > 0 {
		status = requests.StatusDuplicate
	}
	for i, ts := range r.Tasks {
		if ts.ID != ids[i] || ts.Status != status || ts.Priority != prio || ts.Interval != "1d" ||
			!ts.From.Equal(day(2024, 3, 2)) || !ts.To.Equal(day(2024, 3, 7)) || !strings.HasSuffix(ts.ID, ts.Symbol+":1d:2024-03-02T00:00:00Z/2024-03-07T00:00:00Z") {
			t.Errorf("task %d = %+v, want id %s, status %s, priority %s", i, ts, ids[i], status, prio)
		}
	}
}

func TestRequestReplyEnqueuesOnceAndByPriority(t *testing.T) {
	f := setup(t, true)
	_, logs := f.service(t, requests.Config{})

	high := wantIDs("high:", "AAPL", "MSFT")
	checkReply(t, f.askOK(t, `{"symbols":["AAPL","MSFT"],"interval":"1d","range":"5d"}`), 2, 0, "high", high)
	checkReply(t, f.askOK(t, `{"symbols":["AAPL","MSFT"],"interval":"1d","range":"5d"}`), 0, 2, "high", high)
	normal := wantIDs("", "AAPL", "MSFT")
	checkReply(t, f.askOK(t, `{"symbols":["AAPL","MSFT"],"range":"5d","priority":"normal","requested_by":"bob"}`), 2, 0, "normal", normal)

	got := f.stored(t)
	want := []struct{ subject, id, by string }{
		{"marketfleet.priority.collect", high[0], "nats-request"}, {"marketfleet.priority.collect", high[1], "nats-request"},
		{"marketfleet.tasks.collect", normal[0], "bob"}, {"marketfleet.tasks.collect", normal[1], "bob"},
	}
	if len(got) != len(want) {
		t.Fatalf("stream holds %d tasks, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].subject != w.subject || got[i].msgID != w.id || got[i].task.MsgID() != w.id ||
			got[i].task.RequestedBy != w.by || got[i].task.Incremental {
			t.Errorf("stored %d = %+v, want %+v", i, got[i], w)
		}
	}
	lines := logs.Lines("collection request")
	if len(lines) != 3 {
		t.Fatalf("%d info lines for 3 requests: %v", len(lines), lines)
	}
	if l := lines[1]; l["level"] != "info" || l["requested_by"] != "nats-request" || l["symbols"] != 2.0 ||
		l["accepted"] != 0.0 || l["duplicates"] != 2.0 || l["took"] == nil {
		t.Errorf("log line = %v", l)
	}
}

// A duplicate's reply says how to force it; "force": true publishes the
// same windows again as forced tasks with ids of their own.
func TestForcedRequestPublishesAgain(t *testing.T) {
	f := setup(t, true)
	f.service(t, requests.Config{})
	body := `{"symbols":["AAPL","MSFT"],"interval":"1d","range":"5d"}`
	f.askOK(t, body)
	dup := f.askOK(t, body)
	if dup.Duplicates != 2 || dup.Hint != requests.ForceHint || dup.Forced != 0 {
		t.Fatalf("second reply = %+v, want 2 duplicates and the hint", dup)
	}
	forced := f.askOK(t, `{"symbols":["AAPL","MSFT"],"interval":"1d","range":"5d","force":true}`)
	if forced.Accepted != 2 || forced.Forced != 2 || forced.Duplicates != 0 || forced.Hint != "" {
		t.Fatalf("forced reply = %+v, want 2 accepted, 2 forced", forced)
	}
	got := f.stored(t)
	if len(got) != 4 {
		t.Fatalf("stream holds %d tasks, want 4", len(got))
	}
	for i, g := range got[2:] {
		if !g.task.Forced || g.msgID != forced.Tasks[i].ID || !forced.Tasks[i].Forced || g.msgID == got[i].msgID ||
			!strings.HasSuffix(g.msgID, got[i].msgID) {
			t.Errorf("forced task %d = %+v (id %q), want forced, an id of its own ending like %q", i, g.task, g.msgID, got[i].msgID)
		}
	}
}

func TestRequestWithDates(t *testing.T) {
	f := setup(t, true)
	f.service(t, requests.Config{})
	r := f.askOK(t, `{"symbols":["brk-b","BRK-B","7203.T"],"interval":"1wk","from":"2024-01-01","to":"2024-02-01T00:00:00Z","requested_by":"alice"}`)
	if r.Accepted != 2 || r.Duplicates != 0 || len(r.Tasks) != 2 || r.Tasks[0].Symbol != "BRK-B" || r.Tasks[1].Symbol != "7203.T" {
		t.Fatalf("reply = %+v", r)
	}
	got := f.stored(t)
	if len(got) != 2 {
		t.Fatalf("stream holds %d tasks, want 2", len(got))
	}
	for i, st := range got {
		tk := st.task
		if tk.Symbol != r.Tasks[i].Symbol || tk.Interval != "1wk" || !tk.From.Equal(day(2024, 1, 1)) || !tk.To.Equal(day(2024, 2, 1)) ||
			tk.Priority != tasks.PriorityHigh || tk.RequestedBy != "alice" || st.msgID != r.Tasks[i].ID {
			t.Errorf("stored %d = %+v (id %s), reply %+v", i, tk, st.msgID, r.Tasks[i])
		}
	}
}

func TestRequestWithoutReplySubjectIsStillPublished(t *testing.T) {
	f := setup(t, true)
	f.service(t, requests.Config{})
	if err := f.nc.Publish(requests.Subject, []byte(`{"symbols":["AAPL","MSFT","IBM"],"range":"5d"}`)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "3 tasks in the stream", func() bool { return len(f.stored(t)) == 3 })
	if err := f.nc.Publish(requests.Subject, []byte(`{"symbols":["AAPL"],"range":"5d","colour":"red"}`)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the invalid request dead-lettered", func() bool { return len(f.deadLetters(t)) == 1 })
	if r := f.deadLetters(t)[0]; !strings.Contains(r.Reason, `unknown field "colour"`) || r.Class != outcome.Invalid {
		t.Fatalf("dead letter = %+v", r)
	}
}

func TestInvalidRequestsAreAnsweredAndDeadLetteredOnce(t *testing.T) {
	f := setup(t, true)
	f.service(t, requests.Config{RecordRate: 100}) // 19 requests from one sender: all recorded
	cases := []struct{ name, body, field string }{
		{"not JSON", `AAPL please`, "request: not valid JSON"},
		{"unknown field", `{"symbols":["AAPL"],"range":"5d","sym":"X"}`, `request: unknown field "sym"`},
		{"no symbols", `{"symbols":[],"range":"5d"}`, "symbols: missing"},
		{"bad symbols", `{"symbols":["A$","AAPL","b c"],"range":"5d"}`, `symbols: 2 of 3 invalid: [0] "A$", [2] "b c"`},
		{"bad interval", `{"symbols":["AAPL"],"interval":"7d","range":"5d"}`, `interval: invalid interval "7d"`},
		{"range and from", `{"symbols":["AAPL"],"range":"5d","from":"2024-01-01"}`, "range: give a range or from/to dates, not both"},
		{"bad priority", `{"symbols":["AAPL"],"range":"5d","priority":"asap"}`, `priority: "asap"`},
		{"too many symbols", fmt.Sprintf(`{"symbols":[%s"X"],"range":"5d"}`, strings.Repeat(`"X",`, requests.DefaultMaxSymbols)), "symbols: 501 symbols, at most 500"},
		{"oversized", `{"symbols":["AAPL"],"range":"5d","requested_by":"` + strings.Repeat("x", requests.DefaultMaxRequestBytes) + `"}`, "request: 655"},
	}
	for _, tc := range cases {
		for range 2 { // an identical bad request twice is one dead letter
			r := f.askErr(t, tc.body)
			if !strings.HasPrefix(r.Error, "invalid request: "+tc.field) || r.Retryable {
				t.Errorf("%s: reply %+v, want a non-retryable error starting %q", tc.name, r, "invalid request: "+tc.field)
			}
		}
	}
	if raw := f.ask(t, cases[3].body); !strings.Contains(string(raw), "digits and . - = & (") {
		t.Errorf("reply %s: want the text readable, not HTML-escaped", raw)
	}
	letters := f.deadLetters(t)
	if len(letters) != len(cases) {
		t.Fatalf("%d dead letters for %d distinct invalid requests (each sent twice), want %d", len(letters), len(cases), len(cases))
	}
	for i, r := range letters {
		tc := cases[i]
		kept := tc.body[:min(len(tc.body), dlq.MaxRefusedBody)]
		if string(r.Payload) != kept || r.BodyBytes != len(tc.body) || r.Class != outcome.Invalid || r.Subject != requests.Subject ||
			r.Stream != dlq.RequestStream || r.Worker != requests.DefaultWorkerID || !strings.HasPrefix(r.Reason, "invalid request: "+tc.field) ||
			len(r.Headers["X-Test"]) != 1 {
			t.Errorf("%s: dead letter %+v (payload %d bytes)", tc.name, r.Reason, len(r.Payload))
		}
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("%d tasks published for invalid requests", n)
	}
}

// One sender flooding bad requests gets every answer, and only its burst
// recorded; another sender is still recorded; and the whole process is
// bounded whatever identities senders invent.
func TestRefusedRequestsAreRecordedWithinTheSendersRate(t *testing.T) {
	f := setup(t, true)
	var mu sync.Mutex
	outcomes := map[string]int{}
	f.service(t, requests.Config{RecordRate: 0.1, Handled: func(o string) { mu.Lock(); outcomes[o]++; mu.Unlock() }}) // burst 1, process 10
	for i := range 5 {
		if r := f.askErr(t, fmt.Sprintf(`{"junk":%d}`, i)); !strings.Contains(r.Error, `unknown field "junk"`) {
			t.Fatalf("reply %d = %+v, want the reason even when not recorded", i, r)
		}
	}
	if n := len(f.deadLetters(t)); n != 1 {
		t.Fatalf("%d records of one sender's 5 bad requests at 0.1/s (burst 1), want 1", n)
	}
	other, _ := f.srv.Connect(t) // another connection: another inbox, another sender
	raw, err := other.Request(requests.Subject, []byte(`{"other":1}`), 10*time.Second)
	if err != nil || !strings.Contains(string(raw.Data), `unknown field \"other\"`) {
		t.Fatalf("other sender: %s, %v", raw.Data, err)
	}
	// Forged reply subjects: each a new "sender", all held by the process
	// bound (ten senders' worth: 10 at burst).
	for i := range 30 {
		if err := f.nc.PublishMsg(&nats.Msg{Subject: requests.Subject, Reply: fmt.Sprintf("forged%d.x", i), Data: []byte(fmt.Sprintf(`{"forged":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "every request handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return outcomes["invalid"]+outcomes["unrecorded"] == 36
	})
	if n := len(f.deadLetters(t)); n != 10 {
		t.Fatalf("%d records in all, want 10 (the process bound: 1 + 1 + 8 forged)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes["invalid"] != 10 || outcomes["unrecorded"] != 26 {
		t.Fatalf("outcomes = %v, want 10 invalid (recorded), 26 unrecorded", outcomes)
	}
}

func TestPublishFailureIsRetryableAndNotDeadLettered(t *testing.T) {
	f := setup(t, false) // no task stream: JetStream cannot take the tasks
	_, logs := f.service(t, requests.Config{})
	r := f.askErr(t, `{"symbols":["AAPL"],"range":"5d"}`)
	if !r.Retryable || !strings.HasPrefix(r.Error, "publish tasks: ") || !strings.Contains(r.Error, "sending the request again is safe") {
		t.Fatalf("reply = %+v, want a retryable publish error", r)
	}
	if n := len(f.deadLetters(t)); n != 0 {
		t.Fatalf("%d dead letters for a valid request", n)
	}
	if l := logs.Lines("collection request not published"); len(l) != 1 || l[0]["level"] != "warn" {
		t.Fatalf("warn lines = %v", l)
	}
	// Once the stream exists, the same request goes through.
	if _, _, err := queue.EnsureStream(context.Background(), f.js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	checkReply(t, f.askOK(t, `{"symbols":["AAPL"],"range":"5d"}`), 1, 0, "high", wantIDs("high:", "AAPL"))
}

func TestEachRequestIsHandledByOneServiceOfTheGroup(t *testing.T) {
	f := setup(t, true)
	_, logsA := f.service(t, requests.Config{})
	_, logsB := f.service(t, requests.Config{})
	const n = 40
	for i := range n {
		r := f.askOK(t, fmt.Sprintf(`{"symbols":["S%d"],"range":"5d"}`, i))
		if r.Accepted != 1 || r.Duplicates != 0 {
			t.Fatalf("request %d: reply %+v", i, r)
		}
	}
	a, b := len(logsA.Lines("collection request")), len(logsB.Lines("collection request"))
	if a+b != n || a == 0 || b == 0 {
		t.Fatalf("services handled %d and %d requests, want %d in all, shared", a, b, n)
	}
	if got := len(f.stored(t)); got != n {
		t.Fatalf("stream holds %d tasks, want %d", got, n)
	}
}

func TestRunDrainsAndStopsOnCancel(t *testing.T) {
	f := setup(t, true)
	nc, js := f.srv.Connect(t)
	pub := queue.NewPublisher(js, "")
	// The first publish starts the JetStream handle's ack listener, which
	// lives as long as the connection: start it before taking the snapshot.
	warm := tasks.NewCollect("WARM", "1d", day(2024, 1, 1), day(2024, 1, 2), "test", now)
	if _, err := pub.Publish(context.Background(), []tasks.Task{warm}); err != nil {
		t.Fatal(err)
	}
	leaks := goleak.IgnoreCurrent()
	s, err := requests.New(nc, requests.Config{Publisher: pub, DeadLetters: dlq.NewWriter(js, dlq.WriterConfig{}), Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	const n = 20 // more than Concurrency: some wait in the pending queue
	for i := range n {
		if err := f.nc.Publish(requests.Subject, fmt.Appendf(nil, `{"symbols":["D%d"],"range":"5d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the first request handled", func() bool { return len(f.stored(t)) > 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after cancel")
	}
	if _, err := f.nc.Request(requests.Subject, []byte(`{}`), time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request after Run returned: %v, want no responders", err)
	}
	if got := len(f.stored(t)) - 1; got != n {
		t.Fatalf("%d of %d requests received before shutdown were published", got, n)
	}
	goleak.VerifyNone(t, leaks)
}

func TestRunFailsWhenItsConnectionCloses(t *testing.T) {
	f := setup(t, true)
	nc, js := f.srv.Connect(t)
	s, err := requests.New(nc, requests.Config{Publisher: queue.NewPublisher(js, ""), DeadLetters: dlq.NewWriter(js, dlq.WriterConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	<-s.Ready()
	nc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, nats.ErrConnectionClosed) {
			t.Fatalf("Run = %v, want an error wrapping nats.ErrConnectionClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after its connection closed")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	f := setup(t, false)
	pub, dead := queue.NewPublisher(f.js, ""), dlq.NewWriter(f.js, dlq.WriterConfig{})
	for _, tc := range []struct {
		name string
		nc   *nats.Conn
		cfg  requests.Config
	}{
		{"no connection", nil, requests.Config{Publisher: pub, DeadLetters: dead}},
		{"no publisher", f.nc, requests.Config{DeadLetters: dead}},
		{"no dead letters", f.nc, requests.Config{Publisher: pub}},
		{"concurrency", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, Concurrency: -1}},
		{"timeout", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, Timeout: time.Millisecond}},
		{"max symbols", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, Limits: requests.Limits{MaxSymbols: requests.MaxSymbolsLimit + 1}}},
		{"max bytes", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, Limits: requests.Limits{MaxRequestBytes: 10}}},
		{"priority", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, Limits: requests.Limits{DefaultPriority: "high "}}},
		{"record rate", f.nc, requests.Config{Publisher: pub, DeadLetters: dead, RecordRate: -1}},
	} {
		if _, err := requests.New(tc.nc, tc.cfg); !errors.Is(err, requests.ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	if _, err := requests.New(f.nc, requests.Config{Publisher: pub, DeadLetters: dead}); err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
}
