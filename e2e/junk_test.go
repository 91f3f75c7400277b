package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"marketfleet/dlq"
	"marketfleet/outcome"
)

// The flood, against a running worker: 300 junk requests of 1 MB
// each, from 8 connections, after a task was dead-lettered. Every request
// is answered with its reason; the dead task is still there; the refused
// requests went to their own stream, bounded (4 KiB of each, within the
// worker's rate), never to the dead-letter stream of tasks.
func TestJunkRequestsNeverFlushDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	ctx := context.Background()
	w := e.startWorker(t, "junk-1")
	defer w.stop(t, 30*time.Second)
	poison := nats.NewMsg("marketfleet.tasks.collect")
	poison.Data = []byte(`{"v":1,"kind":`)
	poison.Header.Set(nats.MsgIdHdr, "poison-1")
	if _, err := js.PublishMsg(ctx, poison); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, js, 30*time.Second)
	if recs := fleetctlJSON(t, e, "dlq", "list"); len(recs) != 1 {
		t.Fatalf("dead letters before the flood: %+v, want the poison task", recs)
	}

	const senders, each, size = 8, 38, 1_000_000
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for s := range senders {
		wg.Go(func() {
			nc, err := nats.Connect(e.natsURL)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			junk := make([]byte, size)
			for i := range each {
				copy(junk, fmt.Sprintf("junk %d %d ", s, i))
				reply, err := nc.Request("marketfleet.request.collect", junk, 20*time.Second)
				if err != nil {
					errs <- fmt.Errorf("junk %d/%d: %w", s, i, err)
					return
				}
				if !strings.Contains(string(reply.Data), "invalid request") {
					errs <- fmt.Errorf("junk %d/%d: reply %s", s, i, reply.Data)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d junk requests of %d bytes answered in %s", senders*each, size, took.Round(time.Millisecond))

	recs := fleetctlJSON(t, e, "dlq", "list")
	if len(recs) != 1 || recs[0].Class != outcome.Invalid || string(recs[0].Payload) != `{"v":1,"kind":` {
		t.Fatalf("dead letters after the flood: %d, want the poison task alone, untouched", len(recs))
	}
	refused := fleetctlJSON(t, e, "dlq", "list", "--refused")
	// One worker records at most 10 senders' worth: bursts of 100, then
	// 10 a second.
	if limit := 100 + int(took.Seconds()*10) + 10; len(refused) == 0 || len(refused) > limit {
		t.Fatalf("%d refused requests recorded in %s, want 1 to %d", len(refused), took, limit)
	}
	for _, r := range refused {
		if len(r.Payload) != dlq.MaxRefusedBody || r.BodyBytes != size || r.Stream != dlq.RequestStream {
			t.Fatalf("refused record %d: %d bytes kept of %d (stream %s), want the first %d of %d", r.Seq, len(r.Payload), r.BodyBytes, r.Stream, dlq.MaxRefusedBody, size)
		}
	}
}
