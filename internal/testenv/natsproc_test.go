package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsBinary holds the nats-server built for this package's test run, by
// the first test that needs it.
var natsBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the nats-server binary built for the run, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	if natsBinary.dir != "" {
		_ = os.RemoveAll(natsBinary.dir)
	}
	os.Exit(code)
}

// natsServerBinary returns the path of a nats-server built from the module
// version in go.mod, building it on first use (once per test run).
func natsServerBinary(t testing.TB) string {
	t.Helper()
	natsBinary.once.Do(func() {
		start := time.Now()
		natsBinary.dir, natsBinary.err = os.MkdirTemp("", "marketfleet-testenv-")
		if natsBinary.err != nil {
			return
		}
		natsBinary.path, natsBinary.err = BuildNATSServer(natsBinary.dir)
		t.Logf("built nats-server in %s", time.Since(start).Round(time.Millisecond))
	})
	if natsBinary.err != nil {
		t.Fatalf("build nats-server: %v", natsBinary.err)
	}
	return natsBinary.path
}

// TestNATSProcessSurvivesSIGKILL publishes acknowledged messages to a file
// stream, SIGKILLs the server and starts it again: every acknowledged write
// is still there.
func TestNATSProcessSurvivesSIGKILL(t *testing.T) {
	p := StartNATSProcess(t, natsServerBinary(t))
	js := connectProcess(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "DURABLE",
		Subjects: []string{"durable.>"},
		Storage:  jetstream.FileStorage,
		Replicas: 1,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	start := time.Now()
	for i := range 500 {
		ack, err := js.Publish(ctx, fmt.Sprintf("durable.%d", i), []byte(fmt.Sprintf("message %d", i)))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %d acknowledged as sequence %d, want %d", i, ack.Sequence, i+1)
		}
	}
	t.Logf("500 acknowledged publishes (fsync each) in %s", time.Since(start).Round(time.Millisecond))

	url := p.URL()
	p.Kill()
	if err := p.ping(); err == nil {
		t.Fatalf("server still answers after Kill")
	}
	start = time.Now()
	p.Start()
	t.Logf("restarted after SIGKILL in %s", time.Since(start).Round(time.Millisecond))
	if p.URL() != url {
		t.Fatalf("URL after restart = %s, want %s", p.URL(), url)
	}

	js = connectProcess(t, p)
	stream, err := js.Stream(ctx, "DURABLE")
	if err != nil {
		t.Fatalf("stream after SIGKILL: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info after SIGKILL: %v", err)
	}
	if info.State.Msgs != 500 || info.State.LastSeq != 500 {
		t.Fatalf("after SIGKILL the stream has %d messages (last sequence %d), want all 500 acknowledged ones",
			info.State.Msgs, info.State.LastSeq)
	}
	msg, err := stream.GetMsg(ctx, 500)
	if err != nil {
		t.Fatalf("get message 500 after SIGKILL: %v", err)
	}
	if got, want := string(msg.Data), "message 499"; got != want {
		t.Fatalf("message 500 = %q, want %q", got, want)
	}

	p.Stop()
	if err := p.ping(); err == nil {
		t.Fatalf("server still answers after Stop")
	}
	p.Stop() // stopping a stopped server does nothing
}

// connectProcess connects to p without reconnecting (each run gets its own
// client), closed when the test ends.
func connectProcess(t *testing.T, p *NATSProcess) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(p.URL(), nats.Name("marketfleet-test"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect to %s: %v", p.URL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}
