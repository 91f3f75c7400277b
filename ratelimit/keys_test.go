package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/ratelimit"
)

// TestKeyStates checks values that other workers or operators may leave
// in the key.
func TestKeyStates(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, kv jetstream.KeyValue, key string)
		wantLog string
	}{
		{"undecodable value", func(t *testing.T, kv jetstream.KeyValue, key string) {
			put(t, kv, key, []byte("not json"))
		}, "undecodable value"},
		{"deleted key", func(t *testing.T, kv jetstream.KeyValue, key string) {
			put(t, kv, key, state(t, time.Now().Add(time.Hour), time.Now(), 2))
			if err := kv.Delete(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"writer clock ahead", func(t *testing.T, kv jetstream.KeyValue, key string) {
			put(t, kv, key, state(t, time.Now(), time.Now().Add(10*time.Second), 2))
		}, "clock is ahead"},
		{"writer with another rate", func(t *testing.T, kv jetstream.KeyValue, key string) {
			put(t, kv, key, state(t, time.Now(), time.Now(), 99))
		}, "disagree on rate or burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			key := "source.state." + strings.ReplaceAll(tt.name, " ", "_")
			l := open(t, js, ratelimit.Config{Key: key, Rate: 2, Burst: 2}, zerolog.New(&buf))
			kv, err := js.KeyValue(context.Background(), ratelimit.DefaultBucket)
			if err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, kv, key)
			wait(t, l, 200*time.Millisecond)
			if !strings.Contains(buf.String(), tt.wantLog) {
				t.Errorf("log %q does not mention %q", buf.String(), tt.wantLog)
			}
			e, err := kv.Get(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(e.Value(), &v); err != nil || v["tat"] == nil || v["by"] == nil {
				t.Errorf("value after Wait %s: %v", e.Value(), err)
			}
		})
	}
}

func put(t *testing.T, kv jetstream.KeyValue, key string, v []byte) {
	t.Helper()
	if _, err := kv.Put(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
}

func state(t *testing.T, tat, at time.Time, rate float64) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"tat": tat.UTC(), "at": at.UTC(), "by": "other-host", "rate": rate, "burst": 2})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
