package yahoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"marketfleet/source"
)

// envelope is the top level of a chart API response body.
type envelope struct {
	Chart struct {
		Result []*chartResult `json:"result"`
		Error  *chartError    `json:"error"`
	} `json:"chart"`
}

// chartError is the error object Yahoo puts in chart.error.
type chartError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// errUnparseable marks a successful response whose body is not a chart
// (HTML, truncated JSON, NaN): tried again in-process, then refused as
// source.ErrBadData.
var errUnparseable = errors.New("body is not a chart")

// notFoundCode is the chart error code meaning the symbol does not exist.
const notFoundCode = "Not Found"

// decode interprets a non-retryable response: it returns the first chart
// result or a classified error (see the package documentation).
func decode(resp *response) (*chartResult, error) {
	var env envelope
	jsonErr := json.Unmarshal(resp.body, &env)
	if jsonErr == nil && env.Chart.Error != nil && !authStatus(resp.status) {
		return nil, env.Chart.Error.classify(resp.status)
	}
	switch {
	case resp.status == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", statusText(resp.status, resp.body), source.ErrNotFound)
	case resp.status == http.StatusBadRequest:
		return nil, fmt.Errorf("%s: %w", statusText(resp.status, resp.body), source.ErrRejected)
	case resp.status < 200 || resp.status > 299:
		return nil, errors.New(statusText(resp.status, resp.body))
	case jsonErr != nil:
		return nil, fmt.Errorf("HTTP %d: %w: decode chart: %w: %s", resp.status, errUnparseable, jsonErr, excerpt(resp.body))
	case len(env.Chart.Result) == 0 || env.Chart.Result[0] == nil:
		return nil, fmt.Errorf("HTTP %d: %w: chart has neither a result nor an error: %s", resp.status, errUnparseable, excerpt(resp.body))
	}
	return env.Chart.Result[0], nil
}

// classify turns a chart error object into an error wrapping
// source.ErrNotFound (code "Not Found") or source.ErrRejected (any other).
func (e *chartError) classify(status int) error {
	sentinel := source.ErrRejected
	if e.Code == notFoundCode {
		sentinel = source.ErrNotFound
	}
	return fmt.Errorf("HTTP %d: chart error %q: %s: %w", status, e.Code, e.Description, sentinel)
}

// authStatus reports whether status says the client, not the request, was
// refused (missing cookie, blocked address): such a response is transient
// whatever error object it carries, lest every task be dead-lettered.
func authStatus(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden ||
		status == http.StatusProxyAuthRequired
}
