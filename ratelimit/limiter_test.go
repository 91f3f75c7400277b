package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
	"marketfleet/ratelimit"
)

func open(t *testing.T, js jetstream.JetStream, cfg ratelimit.Config, log zerolog.Logger) *ratelimit.Limiter {
	t.Helper()
	cfg.Logger = log
	l, err := ratelimit.Open(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func wait(t *testing.T, l *ratelimit.Limiter, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ratelimit.Config
	}{
		{"negative rate", ratelimit.Config{Key: "k", Rate: -1}},
		{"NaN rate", ratelimit.Config{Key: "k", Rate: math.NaN()}},
		{"infinite rate", ratelimit.Config{Key: "k", Rate: math.Inf(1)}},
		{"rate above MaxRate", ratelimit.Config{Key: "k", Rate: 2 * ratelimit.MaxRate}},
		{"negative burst", ratelimit.Config{Key: "k", Rate: 1, Burst: -1}},
		{"negative batch", ratelimit.Config{Key: "k", Rate: 1, Batch: -1}},
		{"negative replicas", ratelimit.Config{Key: "k", Rate: 1, Replicas: -1}},
		{"negative retry", ratelimit.Config{Key: "k", Rate: 1, RetryFor: -time.Second}},
		{"empty key", ratelimit.Config{Rate: 1}},
		{"empty key when unlimited", ratelimit.Config{}},
		{"key with a space", ratelimit.Config{Key: "source yahoo", Rate: 1}},
		{"key with a wildcard", ratelimit.Config{Key: "source.*", Rate: 1}},
		{"key ending in a dot", ratelimit.Config{Key: "source.", Rate: 1}},
		{"bucket with a dot", ratelimit.Config{Bucket: "A.B", Key: "k", Rate: 1}},
		{"rate without JetStream", ratelimit.Config{Key: "k", Rate: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ratelimit.Open(context.Background(), nil, tt.cfg)
			if !errors.Is(err, ratelimit.ErrInvalidConfig) {
				t.Fatalf("Open = %v, %v; want an error wrapping ErrInvalidConfig", l, err)
			}
		})
	}
}

func TestUnlimitedTouchesNoKV(t *testing.T) {
	// No JetStream at all.
	l := open(t, nil, ratelimit.Config{Key: "source.free"}, zerolog.Nop())
	start := time.Now()
	for range 10000 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10000 unlimited waits took %s", d)
	}
	if st := l.Stats(); st.Granted != 10000 || st.Reads+st.Writes != 0 {
		t.Errorf("stats %+v, want 10000 grants and no KV operations", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}

	// A live JetStream: the bucket must not even be created.
	_, js := testenv.NATS(t).Connect(t)
	l = open(t, js, ratelimit.Config{Key: "source.free"}, zerolog.Nop())
	wait(t, l, time.Second)
	if _, err := js.KeyValue(context.Background(), ratelimit.DefaultBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("bucket lookup = %v, want ErrBucketNotFound", err)
	}
}

func TestBurstThenRate(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	l := open(t, js, ratelimit.Config{Key: "source.burst", Rate: 4, Burst: 3}, zerolog.Nop())
	start := time.Now()
	for range 3 {
		wait(t, l, time.Second)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("a burst of 3 took %s, want immediate", d)
	}
	wait(t, l, 2*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond || d > 400*time.Millisecond {
		t.Fatalf("4th request after %s, want ~250ms (1/rate after the burst)", d)
	}
	if st := l.Stats(); st.Granted != 4 || st.Writes != 4 {
		t.Errorf("stats %+v, want 4 grants from 4 writes", st)
	}
}

func TestWaitContext(t *testing.T) {
	_, js := testenv.NATS(t).Connect(t)
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		want    error
		within  time.Duration
		wasted  uint64 // reservations lost to the context
		written uint64 // KV writes made by the failed Wait
	}{
		{"cancelled while waiting", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, 250 * time.Millisecond, 1, 1},
		{"deadline before the grant", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded, 50 * time.Millisecond, 0, 0},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, 10 * time.Millisecond, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two requests per second: after the first, the next waits ~500ms.
			l := open(t, js, ratelimit.Config{Key: "source.ctx." + strings.ReplaceAll(tt.name, " ", "_"), Rate: 2, Burst: 1}, zerolog.Nop())
			wait(t, l, time.Second)
			before := l.Stats()
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := l.Wait(ctx)
			if d := time.Since(start); d > tt.within {
				t.Errorf("Wait returned after %s, want within %s", d, tt.within)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wait = %v, want %v", err, tt.want)
			}
			after := l.Stats()
			if got := after.Wasted - before.Wasted; got != tt.wasted {
				t.Errorf("%d reservations wasted, want %d", got, tt.wasted)
			}
			if got := after.Writes - before.Writes; got != tt.written {
				t.Errorf("%d KV writes, want %d", got, tt.written)
			}
			// The limiter still works (the wasted slot only delays it).
			wait(t, l, 2*time.Second)
		})
	}
}
