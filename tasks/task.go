package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
	"unicode/utf8"

	"marketfleet/market"
)

// Version is the envelope schema version this build writes for tasks that
// use no field added after version 1; Encode writes VersionPriority for the
// others, so that workers of an older build keep running the plain tasks of
// a newer producer.
const Version = 1

// VersionPriority added the optional fields priority and incremental.
const VersionPriority = 2

// VersionForced added the optional field forced.
const VersionForced = 3

// VersionRepair added the optional field repair.
const VersionRepair = 4

// SupportedVersions are the schema versions this build can read.
var SupportedVersions = []int{1, 2, 3, 4}

// MaxEnvelopeBytes caps the size of an encoded envelope. Real envelopes are
// about 250 bytes.
const MaxEnvelopeBytes = 4096

// MaxRequestedByLen caps the length of Task.RequestedBy.
const MaxRequestedByLen = 128

// MaxBarsPerTask caps the bars one task may cover; longer histories are split
// into several tasks (one window each).
const MaxBarsPerTask = 50_000

// Kind names a kind of work: a lower-case word of at most 32 letters,
// digits and underscores. Kinds are stable strings: they appear in
// subjects, message ids, logs and metrics. Which kinds a worker runs is
// decided by the handlers it registers (package kinds), not here: a
// well-formed envelope of a kind the worker has no handler for is
// dead-lettered as invalid by the worker.
type Kind string

// KindCollect fetches the bars of one symbol and interval over a window and
// upserts them into the bars table: the kind producers create
// (NewCollect). Other kinds are declared by their handlers.
const KindCollect Kind = "collect"

// Priority orders work. The zero value is normal.
type Priority string

const (
	// PriorityNormal tasks wait their turn in the backlog.
	PriorityNormal Priority = ""
	// PriorityHigh tasks (on-demand requests) go on their own subject and
	// consumer, which workers drain before the normal backlog.
	PriorityHigh Priority = "high"
)

// kindRE is the shape of a Kind.
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Valid reports whether k is a well-formed kind string.
func (k Kind) Valid() bool { return kindRE.MatchString(string(k)) }

// Earliest and latest bound a window to dates a market data source can
// mean: a window from Earliest covers a series' whole history.
var (
	Earliest = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Task is one unit of work: collect the bars of Symbol at Interval whose start
// lies in [From, To).
type Task struct {
	// Version is the envelope schema version (see SupportedVersions).
	Version int `json:"v"`
	// Kind selects the handler.
	Kind Kind `json:"kind"`
	// Symbol is an upper-case ticker (see market.ValidateSymbol).
	Symbol string `json:"symbol"`
	// Interval is a canonical bar interval.
	Interval market.Interval `json:"interval"`
	// From is the inclusive start of the window, in UTC.
	From time.Time `json:"from"`
	// To is the exclusive end of the window, in UTC.
	To time.Time `json:"to"`
	// RequestedBy says who asked: "producer@host", "schedule", a user name.
	RequestedBy string `json:"requested_by"`
	// RequestedAt is when the request was made. It is informational and not
	// part of the message id.
	RequestedAt time.Time `json:"requested_at"`
	// Priority is PriorityNormal (omitted) or PriorityHigh (version 2).
	Priority Priority `json:"priority,omitempty"`
	// Incremental collect tasks start at the last stored bar of the series
	// (minus one bar of overlap) when that is later than From, instead of
	// fetching the whole window every time (version 2). Scheduled tasks are
	// incremental; on-demand and backfill tasks are not, so that they see
	// revised history.
	Incremental bool `json:"incremental,omitempty"`
	// Forced tasks were asked for again within the stream's
	// de-duplication window on purpose (producer --force, "force": true):
	// their message id is distinct (it carries RequestedAt), so the stream
	// stores them even though the same window was queued or collected
	// moments ago (version 3).
	Forced bool `json:"forced,omitempty"`
	// Repair collect tasks were asked for by an audit, for exactly one gap
	// of a series: the expected bars the answer lacks are recorded as
	// known holes, so that audits stop reporting them (version 4).
	Repair bool `json:"repair,omitempty"`
}

// NewCollect returns a version-1 collect task for symbol at iv over
// [from, to), stamped with who asked and when. It does not validate: call
// Validate, or let Encode do it.
func NewCollect(symbol string, iv market.Interval, from, to time.Time, requestedBy string, at time.Time) Task {
	return Task{
		Version:     Version,
		Kind:        KindCollect,
		Symbol:      symbol,
		Interval:    iv,
		From:        from.UTC(),
		To:          to.UTC(),
		RequestedBy: requestedBy,
		RequestedAt: at.UTC(),
	}
}

// MsgID is the task's JetStream de-duplication id (the Nats-Msg-Id header):
// a function of kind, symbol, interval and window only (and of a high
// priority, so that an on-demand request is never swallowed by the same
// window queued behind the backlog, and of a repair, so that a repair is
// never swallowed by a scheduled task), so the same request published twice
// within the stream's duplicate window is stored once. A forced task's id
// also carries its RequestedAt: asked again, it is a new task, while a
// retried publish of the same one is still a duplicate.
func (t Task) MsgID() string {
	id := fmt.Sprintf("%s:%s:%s:%s/%s", t.Kind, t.Symbol, t.Interval,
		t.From.UTC().Format(time.RFC3339), t.To.UTC().Format(time.RFC3339))
	if t.Priority == PriorityHigh {
		id = "high:" + id
	}
	if t.Repair {
		id = "repair:" + id
	}
	if t.Forced {
		id = fmt.Sprintf("forced@%d:%s", t.RequestedAt.UnixNano(), id)
	}
	return id
}

// wantVersion is the schema version t needs.
func (t Task) wantVersion() int {
	switch {
	case t.Repair:
		return VersionRepair
	case t.Forced:
		return VersionForced
	case t.Priority != PriorityNormal || t.Incremental:
		return VersionPriority
	}
	return Version
}

// Validate checks every field and returns an error wrapping ErrInvalid that
// names the first bad one.
func (t Task) Validate() error {
	if !versionSupported(t.Version) {
		return invalid("v", "schema version %d not supported (want one of %v)", t.Version, SupportedVersions)
	}
	if !t.Kind.Valid() {
		return invalid("kind", "%q: want a lower-case word of letters, digits and _ (at most 32), such as %q", t.Kind, KindCollect)
	}
	switch {
	case t.Priority != PriorityNormal && t.Priority != PriorityHigh:
		return invalid("priority", "unknown priority %q (want high, or none for normal)", t.Priority)
	case t.Incremental && t.Kind != KindCollect:
		return invalid("incremental", "only collect tasks can be incremental")
	case t.Repair && t.Kind != KindCollect:
		return invalid("repair", "only collect tasks can be repairs")
	case t.Forced && t.RequestedAt.IsZero():
		return invalid("forced", "a forced task needs requested_at: its message id carries it")
	}
	if err := market.ValidateSymbol(t.Symbol); err != nil {
		return invalid("symbol", "%v", err)
	}
	if !t.Interval.Valid() {
		_, err := market.ParseInterval(string(t.Interval))
		return invalid("interval", "%v", err)
	}
	if err := t.validateWindow(); err != nil {
		return err
	}
	return validateRequester(t.RequestedBy)
}

func (t Task) validateWindow() error {
	switch {
	case t.From.IsZero() || t.To.IsZero():
		return invalid("from/to", "window must have both ends")
	case !t.To.After(t.From):
		return invalid("from/to", "empty window: to %s is not after from %s", stamp(t.To), stamp(t.From))
	case t.From.Before(Earliest) || t.To.After(latest):
		return invalid("from/to", "window %s/%s outside %d-%d", stamp(t.From), stamp(t.To), Earliest.Year(), latest.Year())
	case t.Interval.MaxBars(t.From, t.To) > MaxBarsPerTask:
		return invalid("from/to", "window %s/%s holds over %d %s bars: split it into shorter windows",
			stamp(t.From), stamp(t.To), MaxBarsPerTask, t.Interval)
	}
	return nil
}

func validateRequester(s string) error {
	switch {
	case s == "":
		return invalid("requested_by", "missing")
	case len(s) > MaxRequestedByLen || !utf8.ValidString(s) || hasControl(s):
		return invalid("requested_by", "want printable UTF-8 of at most %d bytes", MaxRequestedByLen)
	}
	return nil
}

// Encode validates t and returns its JSON envelope. It writes the lowest
// schema version that holds t's fields (see Version), whatever t.Version
// says.
func Encode(t Task) ([]byte, error) {
	if versionSupported(t.Version) {
		t.Version = t.wantVersion()
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode task: %w", err)
	}
	return b, nil
}

// Decode parses and validates an envelope. It refuses payloads larger than
// MaxEnvelopeBytes, unknown fields, trailing data and invalid values; every
// error wraps ErrInvalid and is safe to show (it quotes no more than the
// offending field).
func Decode(data []byte) (Task, error) {
	var t Task
	if len(data) > MaxEnvelopeBytes {
		return t, invalid("envelope", "%d bytes, at most %d", len(data), MaxEnvelopeBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Task{}, invalid("envelope", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Task{}, invalid("envelope", "trailing data after the JSON object")
	}
	t.From, t.To, t.RequestedAt = t.From.UTC(), t.To.UTC(), t.RequestedAt.UTC()
	if err := t.Validate(); err != nil {
		return Task{}, err
	}
	if t.Version < t.wantVersion() {
		return Task{}, invalid("v", "priority and incremental need schema version %d, forced %d, repair %d", VersionPriority, VersionForced, VersionRepair)
	}
	return t, nil
}

func versionSupported(v int) bool {
	for _, s := range SupportedVersions {
		if v == s {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
