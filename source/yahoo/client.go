package yahoo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/internal/config"
	"marketfleet/market"
	"marketfleet/source"
)

// Name is the source name stored in every bar's Source field.
const Name = "yahoo"

// DefaultBaseURL is Config.BaseURL's default.
const DefaultBaseURL = "https://query1.finance.yahoo.com"

// maxBodyBytes caps a response body.
const maxBodyBytes = 32 << 20

var _ source.Source = (*Client)(nil)

// Config tunes a Client. Zero fields take the defaults documented on each.
type Config struct {
	// BaseURL is the chart API's: an absolute http or https URL without
	// query or fragment (a path prefix is kept). Defaults to DefaultBaseURL.
	BaseURL string
	// Timeout bounds one HTTP request. Defaults to 15s; unused when
	// HTTPClient is set.
	Timeout time.Duration
	// HTTPClient sends the requests. Defaults to a client with Timeout and
	// the default transport (made by New, so that a Timeout changed after
	// WithDefaults counts).
	HTTPClient *http.Client
	// Limiter, if set, is waited for before every HTTP attempt, retries
	// included (a fleet-wide rate limit). The wait does not count against
	// the timeout; a Wait error fails the call without a request. Defaults
	// to none.
	Limiter source.Waiter
	// Feedback, if set, is told how every HTTP attempt went: 429 and 503
	// are pushback (Penalize), other 5xx and network errors failures
	// (Failed), any other answer a success (Served). The fleet-wide
	// limiter lowers the fleet's rate and opens its breaker from these.
	// Defaults to none.
	Feedback source.Feedback
	// Attempts is the number of attempts per Bars call for retryable
	// failures (HTTP 429, 5xx, network errors). Defaults to 3.
	Attempts int
	// Retry is the backoff between attempts when the server gives no
	// Retry-After. Defaults to 500ms doubling up to 8s.
	Retry backoff.Policy
	// MaxRetryAfter is the longest Retry-After the client waits for
	// in-process; a longer one ends the call at once with an error marked
	// outcome.RetryAfter. Defaults to 30s; negative: never wait in-process.
	MaxRetryAfter time.Duration
	// UserAgent is the User-Agent header. Defaults to a browser-like string
	// that mentions marketfleet.
	UserAgent string
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.BaseURL = cmp.Or(c.BaseURL, DefaultBaseURL)
	c.Timeout = cmp.Or(c.Timeout, 15*time.Second)
	c.Attempts = cmp.Or(c.Attempts, 3)
	c.Retry = cmp.Or(c.Retry, backoff.Policy{Base: 500 * time.Millisecond, Max: 8 * time.Second})
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, 30*time.Second)
	if c.UserAgent == "" {
		c.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
			"Chrome/126.0 Safari/537.36 marketfleet/1.0"
	}
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return config.Invalid(ErrInvalidConfig, "BaseURL", c.BaseURL, "want an absolute http or https URL")
	case u.RawQuery != "" || u.Fragment != "":
		return config.Invalid(ErrInvalidConfig, "BaseURL", c.BaseURL, "want no query or fragment")
	case c.Timeout <= 0:
		return config.Invalid(ErrInvalidConfig, "Timeout", c.Timeout, "want > 0")
	case c.Attempts < 1:
		return config.Invalid(ErrInvalidConfig, "Attempts", c.Attempts, "want at least 1")
	case c.Retry.Base <= 0 || c.Retry.Max < c.Retry.Base:
		return config.Invalid(ErrInvalidConfig, "Retry", c.Retry, "want 0 < Base <= Max")
	}
	return nil
}

// Client fetches bars from the Yahoo chart API. It is immutable once built
// and safe for concurrent use.
type Client struct {
	cfg     Config
	base    string           // scheme://host[/path], no trailing slash
	maxBody int64            // tests lower it
	now     func() time.Time // for HTTP-date Retry-After; tests replace it
}

// New returns a client as cfg says. It returns a *config.FieldError
// wrapping ErrInvalidConfig for an invalid cfg.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), maxBody: maxBodyBytes, now: time.Now}, nil
}

// Name returns "yahoo".
func (c *Client) Name() string { return Name }

// Fetch fetches the bars and corporate actions of req, normalised and
// filtered as described in the package documentation, bars oldest first,
// as of the moment the response arrived. A window with From >= To returns
// an empty Response and nil without a request; so does a response without
// data.
//
// Errors name the symbol and are classified: source.ErrNotFound (chart error
// "Not Found", HTTP 404), source.ErrRejected (other chart errors, HTTP 400,
// an invalid symbol or interval), outcome.RetryAfter (HTTP 429 or 5xx
// with Retry-After, once retries are spent or Retry-After exceeds the
// maximum), an error wrapping ctx.Err() on cancellation, and plain transient
// errors otherwise. See the package documentation for details.
func (c *Client) Fetch(ctx context.Context, req source.Request) (source.Response, error) {
	if err := req.Validate(); err != nil {
		return source.Response{}, fmt.Errorf("yahoo %q: %w", req.Symbol, err)
	}
	if !req.From.Before(req.To) {
		return source.Response{Bars: []market.Bar{}, AsOf: c.now()}, nil
	}
	res, asOf, err := c.chart(ctx, req)
	if err != nil {
		return source.Response{}, fmt.Errorf("yahoo %s: %w", req.Symbol, err)
	}
	bars, err := res.bars(req, asOf)
	if err != nil {
		return source.Response{}, fmt.Errorf("yahoo %s: %w", req.Symbol, err)
	}
	for i := range bars {
		bars[i].AsOf = asOf
	}
	return source.Response{Bars: bars, Actions: res.actions(req.Symbol), AsOf: asOf}, nil
}

// chart fetches and decodes req's chart, as of when the response arrived.
// A body that is not a chart is fetched again, as a failed request is (up
// to Config.Attempts in all); if it never is, the error wraps
// source.ErrBadData: permanent, not a transient failure to retry ten times.
func (c *Client) chart(ctx context.Context, req source.Request) (*chartResult, time.Time, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.fetch(ctx, c.chartURL(req))
		if err != nil {
			return nil, time.Time{}, err
		}
		asOf := c.now()
		res, err := decode(resp)
		if !errors.Is(err, errUnparseable) {
			return res, asOf, err
		}
		if attempt >= c.cfg.Attempts {
			return nil, time.Time{}, fmt.Errorf("%w: %w (gave up after %d attempts)", source.ErrBadData, err, attempt)
		}
		if serr := backoff.Sleep(ctx, c.cfg.Retry.Delay(attempt)); serr != nil {
			return nil, time.Time{}, fmt.Errorf("waiting to retry after %v: %w", err, serr)
		}
	}
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
