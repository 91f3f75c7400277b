package dlq_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/outcome"
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
	if _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	w, admin := dlq.NewWriter(js, dlq.WriterConfig{}), dlq.NewAdmin(js, "")
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
	if err == nil || !strings.Contains(err.Error(), "dead-letter request on marketfleet.request.collect") {
		t.Fatalf("err = %v, want a dead-letter error naming the subject", err)
	}
}
