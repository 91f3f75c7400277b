package yahoo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"marketfleet/internal/backoff"
	"marketfleet/outcome"
	"marketfleet/source"
)

// retryBodyBytes is how much of a retryable response is read, for the
// error message.
const retryBodyBytes = 4 << 10

// errBodyTooLarge marks a response body over the size cap: not retried.
var errBodyTooLarge = errors.New("response body too large")

// response is a complete HTTP exchange that is not to be retried.
type response struct {
	status int
	body   []byte
}

// fetch GETs u, retrying 429, 5xx and network failures as configured. It
// returns the first response with any other status; interpreting it is the
// caller's job.
func (c *Client) fetch(ctx context.Context, u string) (*response, error) {
	for attempt := 1; ; attempt++ {
		if c.cfg.Limiter != nil {
			if err := source.WaitFor(ctx, c.cfg.Limiter); err != nil { // not counted in a task's deadline
				return nil, fmt.Errorf("rate limit: %w", err)
			}
		}
		resp, wait, hasWait, err := c.attempt(ctx, u)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("fetch: %w", ctxErr)
		}
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, errBodyTooLarge) {
			return nil, err
		}
		if hasWait && wait > max(c.cfg.MaxRetryAfter, 0) {
			return nil, outcome.RetryAfter(wait, err)
		}
		if attempt >= c.cfg.Attempts {
			err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			if hasWait {
				return nil, outcome.RetryAfter(wait, err)
			}
			return nil, err
		}
		if !hasWait {
			wait = c.cfg.Retry.Delay(attempt)
		}
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("waiting to retry after %v: %w", err, serr)
		}
	}
}

// attempt makes one request. A non-nil error means the attempt failed in a
// retryable way (or, wrapping errBodyTooLarge, in a non-retryable one); wait
// and hasWait carry the server's Retry-After, if any.
func (c *Client) attempt(ctx context.Context, u string) (resp *response, wait time.Duration, hasWait bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	hr, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.tell(ctx, 0, err)
		}
		return nil, 0, false, err // a *url.Error: "Get "<url>": <cause>"
	}
	defer hr.Body.Close()
	c.tell(ctx, hr.StatusCode, nil)
	if retryable(hr.StatusCode) {
		wait, hasWait = parseRetryAfter(hr.Header.Get("Retry-After"), c.now())
		// Only an excerpt is needed; a read error would merely shorten it.
		head, _ := io.ReadAll(io.LimitReader(hr.Body, retryBodyBytes))
		return nil, wait, hasWait, errors.New(statusText(hr.StatusCode, head))
	}
	body, err := readCapped(hr.Body, c.maxBody)
	if err != nil {
		return nil, 0, false, fmt.Errorf("HTTP %d: %w", hr.StatusCode, err)
	}
	return &response{status: hr.StatusCode, body: body}, 0, false, nil
}

// tell gives the fleet's limiter (Config.Feedback) the outcome of one
// attempt: a status, or a network error. Best effort: the limiter logs its
// own errors, and a request is never failed for them.
func (c *Client) tell(ctx context.Context, status int, err error) {
	f := c.cfg.Feedback
	// The answer counts even when the task's own time ran out just after.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	switch {
	case f == nil:
	case err != nil:
		_ = f.Failed(ctx, "network: "+err.Error())
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		_, _ = f.Penalize(ctx, "HTTP "+strconv.Itoa(status))
	case retryable(status):
		_ = f.Failed(ctx, "HTTP "+strconv.Itoa(status))
	default:
		_ = f.Served(ctx)
	}
}

// retryable reports whether a status is worth retrying in-process.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// readCapped reads r to the end, failing with errBodyTooLarge past limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
	}
	return body, nil
}

// statusText describes a status with a short, single-line excerpt of body.
func statusText(status int, body []byte) string {
	s := fmt.Sprintf("HTTP %d", status)
	if ex := excerpt(body); ex != "" {
		s += ": " + ex
	}
	return s
}

// excerpt is the start of body on one line, at most about 120 bytes.
func excerpt(body []byte) string {
	const limit = 120
	b := body[:min(len(body), 4*limit)]
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > limit {
		// Cutting may split a rune; ToValidUTF8 drops the fragment.
		return strings.ToValidUTF8(s[:limit], "") + "..."
	}
	if len(b) < len(body) {
		return s + "..."
	}
	return s
}
