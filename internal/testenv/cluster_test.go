package testenv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestNATSClusterLeaderFailover shuts down an R3 stream's leader while
// publishing: every acknowledged message survives, a new leader takes over,
// and the old leader rejoins as a current replica after Restart.
func TestNATSClusterLeaderFailover(t *testing.T) {
	start := time.Now()
	c := NewNATSCluster(t, 3)
	t.Logf("cluster formed in %s", time.Since(start).Round(time.Millisecond))
	urls := strings.Split(c.URLs(), ",")
	if len(urls) != 3 || len(slices.Compact(slices.Sorted(slices.Values(urls)))) != 3 {
		t.Fatalf("URLs() = %q, want 3 distinct comma-separated URLs", c.URLs())
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "nats://127.0.0.1:") {
			t.Errorf("URL %q is not a loopback nats:// URL", u)
		}
	}
	_, js := c.Connect(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "FAILOVER",
		Subjects: []string{"failover.>"},
		Storage:  jetstream.FileStorage,
		Replicas: 3,
	})
	if err != nil {
		t.Fatalf("create R3 stream: %v", err)
	}
	for i := range 100 {
		publishUntilAcked(t, js, i)
	}

	old := c.StreamLeader(t, js, "FAILOVER")
	t.Logf("leader %s, shutting it down", old)
	down := time.Now()
	c.Shutdown(old)
	for i := 100; i < 200; i++ {
		publishUntilAcked(t, js, i)
	}
	t.Logf("100 messages published after the shutdown in %s", time.Since(down).Round(time.Millisecond))

	info := waitStream(t, stream, "200 messages and a new leader", func(info *jetstream.StreamInfo) bool {
		return info.State.Msgs == 200 && info.Cluster != nil &&
			info.Cluster.Leader != "" && info.Cluster.Leader != old
	})
	t.Logf("new leader %s", info.Cluster.Leader)

	restart := time.Now()
	c.Restart(old)
	waitStream(t, stream, old+" current again", func(info *jetstream.StreamInfo) bool {
		if info.Cluster == nil || info.State.Msgs != 200 {
			return false
		}
		if info.Cluster.Leader == old {
			return true
		}
		for _, p := range info.Cluster.Replicas {
			if p.Name == old && p.Current && !p.Offline {
				return true
			}
		}
		return false
	})
	t.Logf("%s rejoined in %s", old, time.Since(restart).Round(time.Millisecond))
}

// publishUntilAcked publishes message i on the failover stream, retrying
// until the stream acknowledges it (the message ID makes retries of a write
// that did land harmless).
func publishUntilAcked(t *testing.T, js jetstream.JetStream, i int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, fmt.Sprintf("failover.%d", i), []byte(fmt.Sprintf("message %d", i)),
			jetstream.WithMsgID(fmt.Sprintf("msg-%d", i)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d not acknowledged within 20s: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStream polls the stream's info until ok accepts it (up to 20s).
func waitStream(t *testing.T, stream jetstream.Stream, what string, ok func(*jetstream.StreamInfo) bool) *jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last *jetstream.StreamInfo
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := stream.Info(ctx)
		cancel()
		if err == nil {
			last, lastErr = info, nil
			if ok(info) {
				return info
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream never had %s within 20s: last info %s, last error %v", what, describe(last), lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describe summarises stream info for failure messages.
func describe(info *jetstream.StreamInfo) string {
	if info == nil {
		return "<none>"
	}
	s := fmt.Sprintf("msgs=%d", info.State.Msgs)
	if info.Cluster == nil {
		return s + " cluster=<none>"
	}
	s += " leader=" + info.Cluster.Leader
	for _, p := range info.Cluster.Replicas {
		s += fmt.Sprintf(" replica(%s current=%t offline=%t lag=%d)", p.Name, p.Current, p.Offline, p.Lag)
	}
	return s
}
