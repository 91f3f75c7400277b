package yahoo

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/outcome"
	"marketfleet/source"
)

var fxDays = window("EURUSD=X", "1d", 1577836800, 1578096000)

func TestRetryAfterThenSuccess(t *testing.T) {
	ok := fixture(t, "daily_EURUSDX_fx.json")
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			respond(w, http.StatusTooManyRequests, []byte("slow down"), "Retry-After", "1")
			return
		}
		respond(w, http.StatusOK, ok)
	})
	start := time.Now()
	bars, err := source.Bars(context.Background(), newClient(t, f), fxDays)
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 3 || f.count() != 2 {
		t.Errorf("%d bars after %d requests, want 3 after 2", len(bars), f.count())
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %s, want Retry-After (1s) honoured", el)
	}
}

func TestRetryExhausted(t *testing.T) {
	for _, attempts := range []int{1, 3, 4} {
		f := newFake(t, serve([]byte("<h1>Service Unavailable</h1>"), http.StatusServiceUnavailable))
		c := newClient(t, f, withRetry(attempts, backoff.Policy{Base: time.Millisecond, Max: time.Millisecond}))
		_, err := source.Bars(context.Background(), c, fxDays)
		if err == nil || outcome.Of(err) != outcome.Transient || outcome.After(err) != 0 {
			t.Errorf("attempts=%d: err = %v, want a plain transient error", attempts, err)
		} else if !strings.Contains(err.Error(), "yahoo EURUSD=X: HTTP 503: <h1>Service Unavailable</h1>") {
			t.Errorf("attempts=%d: err = %q, want the symbol, status and body", attempts, err)
		}
		if n := f.count(); n != attempts {
			t.Errorf("attempts=%d: %d requests", attempts, n)
		}
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusTooManyRequests, nil, "Retry-After", "120")
	})
	start := time.Now()
	_, err := source.Bars(context.Background(), newClient(t, f), fxDays)
	if outcome.Of(err) != outcome.Transient || outcome.After(err) != 120*time.Second {
		t.Fatalf("err = %#v, want a transient error asking to retry after 120s", err)
	}
	if !strings.HasPrefix(err.Error(), "yahoo EURUSD=X: HTTP 429") {
		t.Errorf("err = %q, want it to name symbol and status", err)
	}
	if el := time.Since(start); el > time.Second || f.count() != 1 {
		t.Errorf("returned after %s and %d requests, want at once after 1", el, f.count())
	}
}

func TestRetryAfterOnLastAttempt(t *testing.T) {
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"2", 2 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
	} {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			respond(w, http.StatusServiceUnavailable, nil, "Retry-After", tc.header)
		})
		c := newClient(t, f, withRetry(1, backoff.Policy{Base: time.Millisecond, Max: time.Millisecond}))
		c.now = func() time.Time { return now }
		_, err := source.Bars(context.Background(), c, fxDays)
		if outcome.After(err) != tc.want || f.count() != 1 {
			t.Errorf("Retry-After %q: err = %v after %d requests, want RetryAfterError %s after 1", tc.header, err, f.count(), tc.want)
		}
	}
}

func TestMaxRetryAfterOption(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusTooManyRequests, nil, "Retry-After", "1")
	})
	_, err := source.Bars(context.Background(), newClient(t, f, withMaxRetryAfter(-1)), fxDays)
	if outcome.After(err) != time.Second || f.count() != 1 {
		t.Errorf("err = %v after %d requests, want RetryAfterError 1s at once", err, f.count())
	}
}

func TestCancelDuringWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"backoff", nil},
		{"retry-after", []string{"Retry-After", "20"}},
	} {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			respond(w, http.StatusServiceUnavailable, nil, tc.header...)
		})
		c := newClient(t, f, withRetry(3, backoff.Policy{Base: 20 * time.Second, Max: 20 * time.Second}))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := source.Bars(ctx, c, fxDays)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", tc.name, err)
		}
		if el := time.Since(start); el > 2*time.Second || f.count() != 1 {
			t.Errorf("%s: returned after %s and %d requests, want promptly after 1", tc.name, el, f.count())
		}
		cancel()
	}
}

func TestCancelledBeforeCall(t *testing.T) {
	f := newFake(t, serve(fixture(t, "daily_EURUSDX_fx.json"), http.StatusOK))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := source.Bars(ctx, newClient(t, f), fxDays)
	if !errors.Is(err, context.Canceled) || f.count() != 0 {
		t.Errorf("err = %v after %d requests, want context.Canceled and no request", err, f.count())
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	t.Run("connection dropped", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		_, err := source.Bars(context.Background(), newClient(t, f), fxDays)
		if err == nil || outcome.Of(err).DeadLetter() || f.count() != 3 {
			t.Errorf("err = %v after %d requests, want transient after 3", err, f.count())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		})
		c := newClient(t, f, withHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		_, err := source.Bars(context.Background(), c, fxDays)
		if err == nil || outcome.Of(err).DeadLetter() || f.count() != 3 {
			t.Errorf("err = %v after %d requests, want transient after 3", err, f.count())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		f := newFake(t, serve(nil, http.StatusOK))
		c := newClient(t, f)
		f.Close()
		_, err := source.Bars(context.Background(), c, fxDays)
		if err == nil || outcome.Of(err).DeadLetter() || !strings.HasPrefix(err.Error(), `yahoo EURUSD=X: Get "http://`) {
			t.Errorf("err = %v, want transient GET error", err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999999", maxRetryAfterSeconds * time.Second, true},
		{"18446744073709551615", maxRetryAfterSeconds * time.Second, true},
		{"Sun, 10 Mar 2024 12:01:30 GMT", 90 * time.Second, true},
		{"Sunday, 10-Mar-24 12:00:05 GMT", 5 * time.Second, true},
		{"Sun Mar 10 12:00:07 2024", 7 * time.Second, true},
		{"Sun, 10 Mar 2024 11:00:00 GMT", 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

// feedback records what the client told the fleet's limiter.
type feedback struct{ told []string }

func (f *feedback) Penalize(_ context.Context, reason string) (bool, error) {
	f.told = append(f.told, "pushback "+reason)
	return true, nil
}

func (f *feedback) Failed(_ context.Context, reason string) error {
	f.told = append(f.told, "failed "+reason)
	return nil
}

func (f *feedback) Served(context.Context) error {
	f.told = append(f.told, "served")
	return nil
}

// Every attempt's outcome is told to the fleet's limiter: 429 and 503 as
// pushback (which lowers the fleet's rate), other 5xx as failures (towards
// the breaker), an answer as a success.
func TestFeedbackIsReported(t *testing.T) {
	ok := fixture(t, "daily_EURUSDX_fx.json")
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			respond(w, http.StatusTooManyRequests, []byte("slow down"))
		case 2:
			respond(w, http.StatusServiceUnavailable, []byte("busy"))
		case 3:
			respond(w, http.StatusBadGateway, []byte("gateway"))
		default:
			respond(w, http.StatusOK, ok)
		}
	})
	fb := &feedback{}
	c := newClient(t, f, withRetry(4, backoff.Policy{Base: time.Millisecond, Max: time.Millisecond}), func(cfg *Config) { cfg.Feedback = fb })
	if _, err := source.Bars(context.Background(), c, fxDays); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fb.told, ","); got != "pushback HTTP 429,pushback HTTP 503,failed HTTP 502,served" {
		t.Fatalf("feedback told %s, want pushback HTTP 429, pushback HTTP 503, failed HTTP 502, served", got)
	}
}
