package dlq

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"marketfleet/outcome"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter, besides the original message's own.
const (
	HeaderReason    = "Marketfleet-Reason"
	HeaderClass     = "Marketfleet-Class"
	HeaderDelivered = "Marketfleet-Delivered"
	HeaderWorker    = "Marketfleet-Worker"
	HeaderDeadAt    = "Marketfleet-Dead-At"
	HeaderStream    = "Marketfleet-Stream"
	HeaderStreamSeq = "Marketfleet-Stream-Seq"
	HeaderSubject   = "Marketfleet-Subject"
	HeaderOrigMsgID = "Marketfleet-Original-Msg-Id"
	HeaderSymbol    = "Marketfleet-Symbol"
	HeaderKind      = "Marketfleet-Kind"
	// HeaderStack holds the stack of a task whose handling panicked (class
	// panic), Go-quoted on one line.
	HeaderStack = "Marketfleet-Stack"
	// HeaderBodyBytes and HeaderBodySHA256 are the size and hex SHA-256
	// of a refused request's whole body, of which the record keeps the
	// first MaxRefusedBody bytes; HeaderHeadersDropped counts the request's
	// header values not kept.
	HeaderBodyBytes      = "Marketfleet-Body-Bytes"
	HeaderBodySHA256     = "Marketfleet-Body-Sha256"
	HeaderHeadersDropped = "Marketfleet-Headers-Dropped"
	headerNATSPrefix     = "Nats-"
)

// MaxReasonLen caps the stored reason.
const MaxReasonLen = 1024

// MaxStackLen caps the stored stack of a panic.
const MaxStackLen = 16 << 10

// Class is the class of a dead letter: one of the classes of package
// outcome for which Class.DeadLetter is true (invalid, not_found,
// rejected, data, panic, exhausted, max_deliveries). The vocabulary is
// defined once, in outcome, below every package that marks its errors with
// it (the task envelope among them, which dlq itself depends on); metrics
// builds its class label values from the same list.
type Class = outcome.Class

// Letter is what a worker knows about a task it gives up on.
type Letter struct {
	// Reason is the error, as a person should read it.
	Reason string
	// Class says why the task died.
	Class Class
	// Worker names who gave up.
	Worker string
	// Symbol and Kind, when the envelope could be decoded, for filtering.
	Symbol, Kind string
	// Stack is the stack of a panic in the task's handling (class panic),
	// "" otherwise. At most MaxStackLen bytes are kept.
	Stack string
}

// Record is a dead letter as stored.
type Record struct {
	// Seq is the record's sequence in the dead-letter stream.
	Seq uint64 `json:"seq"`
	// Stream, StreamSeq and Subject say where the task was.
	Stream    string `json:"stream"`
	StreamSeq uint64 `json:"stream_seq"`
	Subject   string `json:"subject"`
	// OrigMsgID is the task's Nats-Msg-Id.
	OrigMsgID string    `json:"original_msg_id,omitempty"`
	Reason    string    `json:"reason"`
	Class     Class     `json:"class"`
	Delivered uint64    `json:"delivered"`
	Worker    string    `json:"worker"`
	DeadAt    time.Time `json:"dead_at"`
	Symbol    string    `json:"symbol,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	// Stack is the stack of a panic in the task's handling (class panic).
	Stack string `json:"stack,omitempty"`
	// Headers are the task's own headers (Nats-* headers excluded).
	Headers map[string][]string `json:"headers,omitempty"`
	// Payload is the task's original body; of a refused request, its
	// first MaxRefusedBody bytes.
	Payload []byte `json:"payload"`
	// BodyBytes and BodySHA256 describe a refused request's whole body
	// (0 and "" for a task).
	BodyBytes  int    `json:"body_bytes,omitempty"`
	BodySHA256 string `json:"body_sha256,omitempty"`
}

// Truncated reports whether r keeps only part of a refused request's body.
func (r Record) Truncated() bool { return r.BodyBytes > len(r.Payload) }

// newMessage builds the dead letter for a task message.
func newMessage(subjectPrefix string, src source, l Letter, at time.Time) *nats.Msg {
	m := nats.NewMsg(subjectPrefix + "." + string(l.Class))
	m.Data = src.data
	for k, vs := range src.header {
		if strings.HasPrefix(k, headerNATSPrefix) {
			continue
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	reason := headerSafe(l.Reason)
	if len(reason) > MaxReasonLen {
		reason = reason[:MaxReasonLen]
	}
	m.Header.Set(HeaderReason, reason)
	m.Header.Set(HeaderClass, headerSafe(string(l.Class)))
	m.Header.Set(HeaderDelivered, strconv.FormatUint(src.delivered, 10))
	m.Header.Set(HeaderWorker, headerSafe(l.Worker))
	m.Header.Set(HeaderDeadAt, at.UTC().Format(time.RFC3339Nano))
	m.Header.Set(HeaderStream, src.stream)
	m.Header.Set(HeaderStreamSeq, strconv.FormatUint(src.seq, 10))
	m.Header.Set(HeaderSubject, src.subject)
	if id := src.header.Get(jetstream.MsgIDHeader); id != "" {
		m.Header.Set(HeaderOrigMsgID, id)
	}
	if l.Symbol != "" {
		m.Header.Set(HeaderSymbol, headerSafe(l.Symbol))
	}
	if l.Kind != "" {
		m.Header.Set(HeaderKind, headerSafe(l.Kind))
	}
	if l.Stack != "" {
		m.Header.Set(HeaderStack, strconv.QuoteToASCII(l.Stack[:min(len(l.Stack), MaxStackLen)]))
	}
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dlq:%s:%d", src.stream, src.seq))
	return m
}

// source is the task message being dead-lettered.
type source struct {
	stream    string
	seq       uint64
	subject   string
	delivered uint64
	header    nats.Header
	data      []byte
}

// parseRecord reads a stored dead letter.
func parseRecord(seq uint64, h nats.Header, data []byte) (Record, error) {
	r := Record{
		Seq: seq, Stream: h.Get(HeaderStream), Subject: h.Get(HeaderSubject), OrigMsgID: h.Get(HeaderOrigMsgID),
		Reason: h.Get(HeaderReason), Class: outcome.Class(h.Get(HeaderClass)), Worker: h.Get(HeaderWorker),
		Symbol: h.Get(HeaderSymbol), Kind: h.Get(HeaderKind), Payload: data,
	}
	var err error
	if r.StreamSeq, err = strconv.ParseUint(h.Get(HeaderStreamSeq), 10, 64); err != nil {
		return r, fmt.Errorf("dead letter %d: bad %s header", seq, HeaderStreamSeq)
	}
	r.Delivered, _ = strconv.ParseUint(h.Get(HeaderDelivered), 10, 64)
	r.BodyBytes, _ = strconv.Atoi(h.Get(HeaderBodyBytes))
	r.BodySHA256 = h.Get(HeaderBodySHA256)
	if q := h.Get(HeaderStack); q != "" {
		if r.Stack, err = strconv.Unquote(q); err != nil {
			r.Stack = q // shown as stored
		}
	}
	if r.DeadAt, err = time.Parse(time.RFC3339Nano, h.Get(HeaderDeadAt)); err != nil {
		return r, fmt.Errorf("dead letter %d: bad %s header", seq, HeaderDeadAt)
	}
	for k, vs := range h {
		if strings.HasPrefix(k, "Marketfleet-") || strings.HasPrefix(k, headerNATSPrefix) {
			continue
		}
		if r.Headers == nil {
			r.Headers = map[string][]string{}
		}
		r.Headers[k] = vs
	}
	return r, nil
}

// headerSafe makes s a valid single-line header value: text that is not
// printable ASCII is shown Go-quoted, so poison input cannot break the
// header block or smuggle control characters into a terminal.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
