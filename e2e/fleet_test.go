package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/queue"
)

// waitDrained waits until the task stream is empty and the consumer has
// nothing pending or awaiting an ack.
func waitDrained(t *testing.T, js jetstream.JetStream, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		s, err := js.Stream(ctx, queue.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		si, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
		if err == nil {
			ci, err := c.Info(ctx)
			if err == nil && si.State.Msgs == 0 && ci.NumPending == 0 && ci.NumAckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog not drained after %s: %d tasks left", within, si.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func symbols(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// TestFleetDrainsBacklogWithOneSessionPerWorker is the pipeline end to end:
// the real producer enqueues 200 symbols x 30 daily bars, four real worker
// processes drain it, and a sampler polling pg_stat_activity every 20ms
// never sees more than four fleet sessions.
func TestFleetDrainsBacklogWithOneSessionPerWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	universe := writeUniverse(t, symbols("E", 200))
	code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--universe", universe,
		"--interval", "1d", "--from", "2024-01-01", "--to", "2024-01-31")
	if code != 0 || !strings.Contains(out, "200 accepted, 0 duplicates") {
		t.Fatalf("producer exit %d: %s%s", code, out, errOut)
	}

	stopSampling := e.sessionSampler(t)
	const k = 4
	workers := make([]*worker, k)
	for i := range workers {
		workers[i] = e.startWorker(t, fmt.Sprintf("e2e-%d", i+1))
	}
	waitDrained(t, js, 90*time.Second)
	for _, w := range workers {
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exited %d after SIGTERM, want 0", w.id, code)
		}
	}
	st := stopSampling()

	var rows, distinct, fullSymbols int
	err := e.admin.QueryRow(context.Background(), `
		SELECT count(*), count(DISTINCT (symbol, "interval", ts)),
		       (SELECT count(*) FROM (SELECT symbol FROM bars GROUP BY symbol HAVING count(*) = 30) s)
		FROM bars`).Scan(&rows, &distinct, &fullSymbols)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 6000 || distinct != 6000 || fullSymbols != 200 {
		t.Fatalf("bars: %d rows, %d distinct, %d symbols with 30 bars; want 6000, 6000, 200", rows, distinct, fullSymbols)
	}
	if st.Samples < 10 || st.Errors > 0 {
		t.Fatalf("sampler took %d samples with %d errors: it did not watch the run", st.Samples, st.Errors)
	}
	if st.Peak != k {
		t.Fatalf("peak fleet sessions = %d, want exactly %d (one per worker, never more)", st.Peak, k)
	}
	t.Logf("4 workers, 200 tasks, 6000 bars; %d samples, peak %d sessions", st.Samples, st.Peak)
}

// TestApplyingTasksTwiceChangesNothing publishes the same envelopes twice
// (the second time without a message id, so JetStream cannot de-duplicate
// them) and compares a checksum of the whole table, updated_at included.
func TestApplyingTasksTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	universe := writeUniverse(t, symbols("I", 20))
	if code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--universe", universe,
		"--from", "2024-03-01", "--to", "2024-04-01"); code != 0 {
		t.Fatalf("producer exit %d: %s%s", code, out, errOut)
	}
	// Keep the envelopes, to publish them again later.
	s, err := js.Stream(context.Background(), queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for seq := uint64(1); seq <= 20; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, m.Data)
	}
	w := e.startWorker(t, "idem-1")
	waitDrained(t, js, 60*time.Second)
	first := checksum(t, e)

	for _, p := range payloads {
		if _, err := js.Publish(context.Background(), queue.SubjectPrefix+".collect", p); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, js, 60*time.Second)
	// 20 collect tasks, their 20 features follow-ups, the 20 collect tasks
	// again, and no follow-up for them: they changed no bar.
	if si, _ := s.Info(context.Background()); si.State.LastSeq != 60 {
		t.Fatalf("stream last sequence %d, want 60: the second application did not happen, or it enqueued follow-ups", si.State.LastSeq)
	}
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	if second := checksum(t, e); second != first {
		t.Fatalf("table changed when the same tasks were applied again:\n first %s\nsecond %s", first, second)
	}
}

func checksum(t *testing.T, e *env) string {
	t.Helper()
	var sum string
	var n int
	err := e.admin.QueryRow(context.Background(), `
		SELECT md5(string_agg(b::text, '|' ORDER BY symbol, "interval", ts)), count(*) FROM bars b`).Scan(&sum, &n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no bars: nothing was applied")
	}
	return fmt.Sprintf("%s (%d rows)", sum, n)
}
