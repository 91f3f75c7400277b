package requests_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/queue"
	"marketfleet/requests"
	"marketfleet/tasks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a JetStream server with the task and dead-letter streams, and a
// client connection that plays the requester.
type fixture struct {
	srv   *testenv.NATSServer
	nc    *nats.Conn
	js    jetstream.JetStream
	admin *dlq.Admin
}

func setup(t *testing.T, taskStream bool) *fixture {
	t.Helper()
	ctx := context.Background()
	srv := testenv.NATS(t)
	nc, js := srv.Connect(t)
	if taskStream {
		if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := dlq.EnsureStream(ctx, js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, nc: nc, js: js, admin: dlq.NewAdmin(js, dlq.DefaultRefusedStream)}
}

// service runs a Service on a connection of its own until the test ends,
// and checks that Run then returns nil. It returns once the service is
// subscribed.
func (f *fixture) service(t *testing.T, cfg requests.Config) (*requests.Service, *testenv.Buffer) {
	t.Helper()
	nc, js := f.srv.Connect(t)
	logs := &testenv.Buffer{}
	log := zerolog.New(logs)
	cfg.Publisher, cfg.DeadLetters, cfg.Logger = queue.NewPublisher(js, ""), dlq.NewWriter(js, dlq.WriterConfig{}), log
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	s, err := requests.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run = %v before it was ready", err)
	case <-time.After(5 * time.Second):
		t.Fatal("service not ready after 5s")
	}
	return s, logs
}

// ask sends body as a request with a test header and returns the raw reply.
func (f *fixture) ask(t *testing.T, body string) []byte {
	t.Helper()
	m := nats.NewMsg(requests.Subject)
	m.Data = []byte(body)
	m.Header.Set("X-Test", t.Name())
	reply, err := f.nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", body, err)
	}
	return reply.Data
}

func (f *fixture) askOK(t *testing.T, body string) requests.Reply {
	t.Helper()
	raw := f.ask(t, body)
	var r requests.Reply
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("reply %s: %v", raw, err)
	}
	return r
}

func (f *fixture) askErr(t *testing.T, body string) requests.ErrorReply {
	t.Helper()
	raw := f.ask(t, body)
	var r requests.ErrorReply
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Error == "" {
		t.Fatalf("reply %s: want an error reply (%v)", raw, err)
	}
	return r
}

// storedTask is a message of the task stream.
type storedTask struct {
	subject, msgID string
	task           tasks.Task
}

func (f *fixture) stored(t *testing.T) []storedTask {
	t.Helper()
	ctx := context.Background()
	s, err := f.js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedTask
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("task %d: %v", seq, err)
		}
		task, err := tasks.Decode(raw.Data)
		if err != nil {
			t.Fatalf("task %d: %v", seq, err)
		}
		out = append(out, storedTask{subject: raw.Subject, msgID: raw.Header.Get(jetstream.MsgIDHeader), task: task})
	}
	return out
}

// deadLetters reads every refused-request record by sequence (Admin.List would leave
// its pull running for a while, which goleak would report).
func (f *fixture) deadLetters(t *testing.T) []dlq.Record {
	t.Helper()
	ctx := context.Background()
	s, err := f.js.Stream(ctx, dlq.DefaultRefusedStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []dlq.Record
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		r, err := f.admin.Get(ctx, seq)
		if err != nil {
			t.Fatalf("dead letter %d: %v", seq, err)
		}
		out = append(out, r)
	}
	return out
}

func wantIDs(prefix string, symbols ...string) []string {
	var ids []string
	for _, s := range symbols {
		ids = append(ids, prefix+"collect:"+s+":1d:2024-03-02T00:00:00Z/2024-03-07T00:00:00Z")
	}
	return ids
}
