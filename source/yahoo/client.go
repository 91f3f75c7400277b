package yahoo

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/market"
	"marketfleet/source"
)

// Name is the source name stored in every bar's Source field.
const Name = "yahoo"

// Defaults.
const (
	defaultTimeout       = 15 * time.Second
	defaultAttempts      = 3
	defaultRetryBase     = 500 * time.Millisecond
	defaultRetryMax      = 8 * time.Second
	defaultMaxRetryAfter = 30 * time.Second
	defaultUserAgent     = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
		"Chrome/126.0 Safari/537.36 marketfleet/1.0"
	maxBodyBytes = 32 << 20
)

var _ source.Source = (*Client)(nil)

// Client fetches bars from the Yahoo chart API. It is immutable once built
// and safe for concurrent use.
type Client struct {
	base          string // scheme://host[/path], no trailing slash
	http          *http.Client
	attempts      int
	policy        backoff.Policy
	maxRetryAfter time.Duration
	userAgent     string
	maxBody       int64            // tests lower it
	now           func() time.Time // for HTTP-date Retry-After; tests replace it
	limit         source.Waiter    // nil: unthrottled
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for requests. The default is a
// client with a 15 s timeout and the default transport; nil keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithLimiter makes every HTTP attempt, retries included, wait for w
// first (a fleet-wide rate limit). The wait does not count against the HTTP
// timeout. A Wait error fails the call without a request. Defaults to none.
func WithLimiter(w source.Waiter) Option {
	return func(c *Client) { c.limit = w }
}

// WithRetry sets the total number of attempts per Bars call for retryable
// failures (HTTP 429, 5xx, network errors) and the backoff between them when
// the server gives no Retry-After. The default is 3 attempts with
// backoff.Policy{Base: 500ms, Max: 8s}; attempts < 1 counts as 1.
func WithRetry(attempts int, p backoff.Policy) Option {
	return func(c *Client) {
		c.attempts = max(attempts, 1)
		c.policy = p
	}
}

// WithMaxRetryAfter sets the longest Retry-After the client waits for
// in-process; a longer one ends the call at once with a
// error marked with outcome.RetryAfter. The default is 30 s; a negative d
// counts as 0.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(c *Client) { c.maxRetryAfter = max(d, 0) }
}

// WithUserAgent sets the User-Agent header. The default is a browser-like
// string that mentions marketfleet; an empty s keeps the default.
func WithUserAgent(s string) Option {
	return func(c *Client) {
		if s != "" {
			c.userAgent = s
		}
	}
}

// New returns a client for the chart API at baseURL, such as
// "https://query1.finance.yahoo.com" (a path prefix is kept). It returns an
// error if baseURL is not an absolute http or https URL without query or
// fragment.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("yahoo: base URL %q: want an absolute http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("yahoo: base URL %q: want no query or fragment", baseURL)
	}
	c := &Client{
		base:          strings.TrimRight(u.String(), "/"),
		http:          &http.Client{Timeout: defaultTimeout},
		attempts:      defaultAttempts,
		policy:        backoff.Policy{Base: defaultRetryBase, Max: defaultRetryMax},
		maxRetryAfter: defaultMaxRetryAfter,
		userAgent:     defaultUserAgent,
		maxBody:       maxBodyBytes,
		now:           time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Name returns "yahoo".
func (c *Client) Name() string { return Name }

// Bars fetches the bars of req, normalised and filtered as described in the
// package documentation, oldest first. A window with From >= To returns an
// empty slice and nil without a request; so does a response without data.
//
// Errors name the symbol and are classified: source.ErrNotFound (chart error
// "Not Found", HTTP 404), source.ErrRejected (other chart errors, HTTP 400,
// an invalid symbol or interval), outcome.RetryAfter (HTTP 429 or 5xx
// with Retry-After, once retries are spent or Retry-After exceeds the
// maximum), an error wrapping ctx.Err() on cancellation, and plain transient
// errors otherwise. See the package documentation for details.
func (c *Client) Bars(ctx context.Context, req source.Request) ([]market.Bar, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("yahoo %q: %w", req.Symbol, err)
	}
	if !req.From.Before(req.To) {
		return []market.Bar{}, nil
	}
	resp, err := c.fetch(ctx, c.chartURL(req))
	if err != nil {
		return nil, fmt.Errorf("yahoo %s: %w", req.Symbol, err)
	}
	res, err := decode(resp)
	if err != nil {
		return nil, fmt.Errorf("yahoo %s: %w", req.Symbol, err)
	}
	return res.bars(req), nil
}

// chartURL builds the request URL for req. For daily and longer intervals
// the period is widened by a day on each side: Yahoo stamps such bars at the
// exchange's local open, which lies before 00:00 UTC of the trading date for
// exchanges east of UTC (e.g. ASX, TSE). The window filter then keeps exactly
// [From, To) by trading date.
func (c *Client) chartURL(req source.Request) string {
	from, to := req.From, req.To
	if !req.Interval.Intraday() {
		from, to = from.Add(-24*time.Hour), to.Add(24*time.Hour)
	}
	return fmt.Sprintf("%s/v8/finance/chart/%s?interval=%s&period1=%d&period2=%d&includePrePost=false&events=div%%7Csplit",
		c.base, url.PathEscape(req.Symbol), url.QueryEscape(string(req.Interval)),
		from.Unix(), ceilUnix(to))
}

// ceilUnix is t in Unix seconds, rounded up, so that period2 never cuts off
// a bar starting inside a fractional last second.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 && s < math.MaxInt64 {
		s++
	}
	return s
}
