package requests

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"marketfleet/internal/config"
	"marketfleet/market"
	"marketfleet/tasks"
)

// Defaults of Limits and of a request's optional fields.
const (
	// DefaultMaxRequestBytes caps the body of one request (64 KiB).
	DefaultMaxRequestBytes = 64 << 10
	// DefaultMaxSymbols caps the symbols of one request.
	DefaultMaxSymbols = 500
	// MaxSymbolsLimit is the highest Limits.MaxSymbols New accepts: the
	// reply to a request of that many symbols still fits the 1 MB default
	// NATS message size.
	MaxSymbolsLimit = 2000
	// DefaultInterval is the bar interval of a request that names none.
	DefaultInterval = market.Interval1d
	// DefaultRequestedBy is the requester recorded on tasks of a request
	// that names none.
	DefaultRequestedBy = "nats-request"
	// PriorityHigh and PriorityNormal are the values of Request.Priority.
	PriorityHigh   = "high"
	PriorityNormal = "normal"
)

// fieldNames are the fields of Request, in the order error messages list
// them.
var fieldNames = []string{"symbols", "interval", "range", "from", "to", "priority", "force", "requested_by"}

// Request is the JSON body of a collection request. Exactly one of Range and
// From is required; every other field is optional.
type Request struct {
	// Symbols are 1 to Limits.MaxSymbols tickers. Lower-case ASCII letters
	// are upper-cased; repeated symbols count once.
	Symbols []string `json:"symbols"`
	// Interval is a bar interval (market.ParseInterval). Defaults to "1d".
	Interval string `json:"interval,omitempty"`
	// Range is a window ending with the current bar: "5d", "2wk", "1mo",
	// "1y", "ytd" or "max" (tasks.ResolveWindow).
	Range string `json:"range,omitempty"`
	// From is the window's inclusive start, "2006-01-02" (00:00 UTC) or
	// RFC 3339. To, its exclusive end, defaults to the end of the current
	// bar.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Priority is "high" or "normal". Defaults to Limits.DefaultPriority.
	Priority string `json:"priority,omitempty"`
	// Force collects the windows again even when the same ones were queued
	// or collected within the stream's de-duplication window: the tasks get
	// message ids of their own and are marked forced. Defaults to false.
	Force bool `json:"force,omitempty"`
	// RequestedBy says who asked: printable UTF-8, at most 128 bytes.
	// Defaults to DefaultRequestedBy.
	RequestedBy string `json:"requested_by,omitempty"`
}

// Limits bound what one request may ask for. Zero fields take the defaults
// documented on each.
type Limits struct {
	// MaxRequestBytes caps the request body. Defaults to
	// DefaultMaxRequestBytes; at least 1 KiB.
	MaxRequestBytes int
	// MaxSymbols caps the symbols of one request. Defaults to
	// DefaultMaxSymbols; at most MaxSymbolsLimit.
	MaxSymbols int
	// DefaultPriority is the priority of a request that names none:
	// PriorityHigh or PriorityNormal. Defaults to PriorityHigh.
	DefaultPriority string
}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	l.MaxRequestBytes = cmp.Or(l.MaxRequestBytes, DefaultMaxRequestBytes)
	l.MaxSymbols = cmp.Or(l.MaxSymbols, DefaultMaxSymbols)
	l.DefaultPriority = cmp.Or(l.DefaultPriority, PriorityHigh)
	return l
}

// Validate checks l (after WithDefaults); the error is a
// *config.FieldError wrapping ErrInvalidConfig.
func (l Limits) Validate() error {
	switch {
	case l.MaxRequestBytes < 1<<10:
		return config.Invalid(ErrInvalidConfig, "MaxRequestBytes", l.MaxRequestBytes, "want at least 1024")
	case l.MaxSymbols < 1 || l.MaxSymbols > MaxSymbolsLimit:
		return config.Invalid(ErrInvalidConfig, "MaxSymbols", l.MaxSymbols, "want 1 to %d", MaxSymbolsLimit)
	case l.DefaultPriority != PriorityHigh && l.DefaultPriority != PriorityNormal:
		return config.Invalid(ErrInvalidConfig, "DefaultPriority", l.DefaultPriority, "want %q or %q", PriorityHigh, PriorityNormal)
	}
	return nil
}

// Parse decodes a request body and returns one validated, non-incremental
// collect task per distinct symbol, requested at now (which also ends a
// relative range: see tasks.ResolveWindow). Zero fields of lim take their
// defaults. It refuses bodies larger than lim.MaxRequestBytes, anything but
// one JSON object, unknown fields, trailing data and invalid values; the
// error is a *FieldError (wrapping ErrInvalidRequest) that names the field
// on one line, and names every bad symbol, not just the first.
func Parse(data []byte, lim Limits, now time.Time) ([]tasks.Task, error) {
	lim = lim.WithDefaults()
	req, err := decode(data, lim.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	return req.build(lim, now)
}

// decode parses data strictly into a Request.
func decode(data []byte, maxBytes int) (Request, error) {
	var req Request
	switch {
	case len(data) > maxBytes:
		return req, invalid("request", "%d bytes, at most %d", len(data), maxBytes)
	case len(bytes.TrimSpace(data)) == 0:
		return req, invalid("request", `empty body: want a JSON object such as {"symbols":["AAPL"],"range":"5d"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return req, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, invalid("request", "trailing data after the JSON object")
	}
	if err := checkFields(raw); err != nil {
		return req, err
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, jsonError(err)
	}
	return req, nil
}

// checkFields refuses every key that is not a field of Request, spelled
// exactly (encoding/json alone would match keys case-insensitively).
func checkFields(raw map[string]json.RawMessage) error {
	var unknown []string
	for k := range raw {
		if !contains(fieldNames, k) {
			unknown = append(unknown, fmt.Sprintf("%q", clip(k)))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	noun := "field"
	if len(unknown) > 1 {
		noun = "fields"
	}
	return invalid("request", "unknown %s %s (want %s)", noun, strings.Join(unknown, ", "), strings.Join(fieldNames, ", "))
}

// jsonError turns an encoding/json error into a FieldError.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		return invalid(typ.Field, "want %s, got JSON %s", describeType(typ.Type), typ.Value)
	case errors.As(err, &typ):
		return invalid("request", "want a JSON object, got JSON %s", typ.Value)
	case errors.As(err, &syn):
		return invalid("request", "not valid JSON at byte %d: %v", syn.Offset, err)
	}
	return invalid("request", "not valid JSON: %v", err)
}

func describeType(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		return "an array of strings"
	}
	return "a string"
}

// build validates the fields of r and makes the tasks.
func (r Request) build(lim Limits, now time.Time) ([]tasks.Task, error) {
	syms, err := normalizeSymbols(r.Symbols, lim.MaxSymbols)
	if err != nil {
		return nil, err
	}
	iv, err := parseInterval(r.Interval)
	if err != nil {
		return nil, err
	}
	from, to, err := r.window(iv, now)
	if err != nil {
		return nil, err
	}
	prio, err := parsePriority(r.Priority, lim.DefaultPriority)
	if err != nil {
		return nil, err
	}
	by := r.RequestedBy
	if by == "" {
		by = DefaultRequestedBy
	}
	ts := make([]tasks.Task, 0, len(syms))
	for _, s := range syms {
		t := tasks.NewCollect(s, iv, from, to, by, now)
		t.Priority, t.Forced = prio, r.Force
		if err := t.Validate(); err != nil {
			return nil, fromTaskError(err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func parseInterval(s string) (market.Interval, error) {
	if s == "" {
		return DefaultInterval, nil
	}
	iv, err := market.ParseInterval(s)
	if err != nil {
		return "", invalid("interval", "%v", err)
	}
	return iv, nil
}

// window resolves the request's window; exactly one of range and from is
// required.
func (r Request) window(iv market.Interval, now time.Time) (from, to time.Time, err error) {
	if r.Range == "" && r.From == "" {
		if r.To != "" {
			return from, to, invalid("from", `missing: "to" needs "from"`)
		}
		return from, to, invalid("range", `missing: give a range ("5d", "2wk", "1mo", "1y", "ytd", "max") or a "from" date`)
	}
	from, to, err = tasks.ResolveWindow(iv, r.Range, r.From, r.To, now)
	if err != nil {
		return from, to, fromTaskError(err)
	}
	return from, to, nil
}

func parsePriority(s, def string) (tasks.Priority, error) {
	if s == "" {
		s = def
	}
	switch s {
	case PriorityHigh:
		return tasks.PriorityHigh, nil
	case PriorityNormal:
		return tasks.PriorityNormal, nil
	}
	return "", invalid("priority", "%q: want %q or %q", clip(s), PriorityHigh, PriorityNormal)
}

// fromTaskError restates a task validation error as a request error about
// the same field.
func fromTaskError(err error) error {
	var fe *tasks.FieldError
	if errors.As(err, &fe) {
		return invalid(fe.Field, "%s", fe.Reason)
	}
	return invalid("request", "%v", err)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
