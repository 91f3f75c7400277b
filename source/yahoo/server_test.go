package yahoo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/market"
	"marketfleet/source"
)

// fastRetry keeps retry tests quick: three attempts, millisecond backoff.
// option changes a test client's Config.
type option func(*Config)

func withRetry(attempts int, p backoff.Policy) option {
	return func(c *Config) { c.Attempts, c.Retry = attempts, p }
}

func withMaxRetryAfter(d time.Duration) option { return func(c *Config) { c.MaxRetryAfter = d } }

func withHTTPClient(hc *http.Client) option { return func(c *Config) { c.HTTPClient = hc } }

var fastRetry = withRetry(3, backoff.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond})

// handlerFunc answers the n-th request (1-based).
type handlerFunc func(n int, w http.ResponseWriter, r *http.Request)

// fake is an httptest server that records the requests it receives.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newFake(t *testing.T, h handlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(context.Background()))
		n := len(f.reqs)
		f.mu.Unlock()
		h(n, w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fake) last() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

// fixture reads a file of testdata.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// respond writes body with status and optional header pairs.
func respond(w http.ResponseWriter, status int, body []byte, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve answers every request with body and status.
func serve(body []byte, status int) handlerFunc {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { respond(w, status, body) }
}

func newClient(t *testing.T, f *fake, opts ...option) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.URL}
	for _, o := range append([]option{fastRetry}, opts...) {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// window is a request for [from, to) in Unix seconds.
func window(symbol string, iv market.Interval, from, to int64) source.Request {
	return source.Request{Symbol: symbol, Interval: iv, From: time.Unix(from, 0), To: time.Unix(to, 0)}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ptr(v float64) *float64 { return &v }
