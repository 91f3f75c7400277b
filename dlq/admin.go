package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Filter selects dead letters. Zero fields match everything.
type Filter struct {
	// Class matches the error class exactly.
	Class Class
	// Reason matches a case-insensitive substring of the reason.
	Reason string
	// Symbol matches the task's symbol exactly (case-insensitive).
	Symbol string
	// OlderThan and NewerThan compare the age (now - dead-at).
	OlderThan, NewerThan time.Duration
}

// Match reports whether r passes f at time now.
func (f Filter) Match(r Record, now time.Time) bool {
	age := now.Sub(r.DeadAt)
	switch {
	case f.Class != "" && r.Class != f.Class:
		return false
	case f.Reason != "" && !strings.Contains(strings.ToLower(r.Reason), strings.ToLower(f.Reason)):
		return false
	case f.Symbol != "" && !strings.EqualFold(r.Symbol, f.Symbol):
		return false
	case f.OlderThan > 0 && age < f.OlderThan:
		return false
	case f.NewerThan > 0 && age > f.NewerThan:
		return false
	}
	return true
}

// Admin reads and manages the dead-letter stream (for fleetctl).
type Admin struct {
	js     jetstream.JetStream
	stream string
	now    func() time.Time
}

// NewAdmin returns an Admin for the dead-letter stream named stream
// (DefaultStream if empty).
func NewAdmin(js jetstream.JetStream, stream string) *Admin {
	if stream == "" {
		stream = DefaultStream
	}
	return &Admin{js: js, stream: stream, now: time.Now}
}

// List returns the dead letters matching f, oldest first, at most limit
// (0: no limit). It reads the stream with an ordered consumer and changes
// nothing.
func (a *Admin) List(ctx context.Context, f Filter, limit int) ([]Record, error) {
	s, err := a.js.Stream(ctx, a.stream)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil, err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var out []Record
	now := a.now()
	for {
		done, err := readPage(ctx, cons, info.State.LastSeq, func(r Record) bool {
			if f.Match(r, now) {
				out = append(out, r)
			}
			return limit > 0 && len(out) == limit
		})
		if done || err != nil {
			return out, err
		}
	}
}

// readPage reads one pull of up to 256 dead letters and hands each to take
// until take returns true. done is true once it read the last dead letter
// (lastSeq), take asked to stop, or the stream's tail was deleted while it
// read. The pull ends when readPage returns, read to its end or not.
func readPage(ctx context.Context, cons jetstream.Consumer, lastSeq uint64, take func(Record) bool) (done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	batch, err := cons.Fetch(256, jetstream.FetchContext(ctx))
	if err != nil {
		return true, fmt.Errorf("dead letters: %w", err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if r, err := parseRecord(md.Sequence.Stream, m.Headers(), m.Data()); err == nil && take(r) {
			return true, nil
		}
		if md.Sequence.Stream >= lastSeq {
			return true, nil
		}
	}
	if n == 0 { // the tail was deleted while we read: the pull ran out
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return true, err
		}
		return true, nil
	}
	return false, nil
}

// Get returns dead letter seq, or an error wrapping ErrNotFound.
func (a *Admin) Get(ctx context.Context, seq uint64) (Record, error) {
	s, err := a.js.Stream(ctx, a.stream)
	if err != nil {
		return Record{}, fmt.Errorf("dead letters: %w", err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Record{}, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	if err != nil {
		return Record{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return parseRecord(seq, raw.Header, raw.Data)
}

// Replay publishes the task of dead letter r back onto its subject, with its
// original headers and the message id "replay:<dlq stream>:<seq>" (so the
// same dead letter replayed twice is one task), waits for the confirmation,
// then deletes the dead letter. It reports whether the task stream took it
// as new (false: a duplicate of an earlier replay).
func (a *Admin) Replay(ctx context.Context, r Record) (bool, error) {
	if r.Stream == RequestStream {
		return false, fmt.Errorf("replay dead letter %d: %w", r.Seq, ErrNotReplayable)
	}
	m := nats.NewMsg(r.Subject)
	m.Data = r.Payload
	for k, vs := range r.Headers {
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("replay:%s:%d", a.stream, r.Seq))
	ack, err := a.js.PublishMsg(ctx, m, jetstream.WithExpectStream(r.Stream),
		jetstream.WithRetryAttempts(3), jetstream.WithRetryWait(200*time.Millisecond))
	if err != nil {
		return false, fmt.Errorf("replay dead letter %d onto %s: %w", r.Seq, r.Subject, err)
	}
	if err := a.Purge(ctx, r.Seq); err != nil && !errors.Is(err, ErrNotFound) {
		return !ack.Duplicate, err
	}
	return !ack.Duplicate, nil
}

// Purge deletes dead letter seq; an error wraps ErrNotFound if there is none.
func (a *Admin) Purge(ctx context.Context, seq uint64) error {
	s, err := a.js.Stream(ctx, a.stream)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		// The server answers a missing sequence with a generic store error:
		// look before saying which it was.
		if _, gerr := s.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("%w: %d", ErrNotFound, seq)
		}
		return fmt.Errorf("purge dead letter %d: %w", seq, err)
	}
	return nil
}

// Summary is a dead-letter stream at a glance, read from its stream info
// (counts by class come from the per-subject counts the server keeps) and
// its newest records: its cost does not grow with the stream.
type Summary struct {
	// Total dead letters, and the bytes they take.
	Total, Bytes uint64
	// MaxBytes is the stream's cap (0: none).
	MaxBytes int64
	// ByClass counts them by class (their subject's last token).
	ByClass map[Class]uint64
	// Newest is when the latest one was stored; zero when there is none.
	Newest time.Time
	// Recent are the newest records, oldest first, at most the sample
	// Summary was asked for.
	Recent []Record
}

// Summary reads the stream's counts and its newest (up to sample) records.
// It reads no other message.
func (a *Admin) Summary(ctx context.Context, sample int) (Summary, error) {
	s, err := a.js.Stream(ctx, a.stream)
	if err != nil {
		return Summary{}, fmt.Errorf("dead letters: %w", err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return Summary{}, fmt.Errorf("dead letters: %w", err)
	}
	st := info.State
	sum := Summary{Total: st.Msgs, Bytes: st.Bytes, MaxBytes: info.Config.MaxBytes, ByClass: map[Class]uint64{}}
	for subject, n := range st.Subjects {
		sum.ByClass[Class(subject[strings.LastIndexByte(subject, '.')+1:])] += n
	}
	if st.Msgs == 0 {
		return sum, nil
	}
	sum.Newest = st.LastTime
	if sample <= 0 {
		return sum, nil
	}
	start := st.FirstSeq
	if st.LastSeq >= uint64(sample) {
		start = max(start, st.LastSeq-uint64(sample)+1)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return sum, fmt.Errorf("dead letters: %w", err)
	}
	for {
		done, err := readPage(ctx, cons, st.LastSeq, func(r Record) bool {
			sum.Recent = append(sum.Recent, r)
			return len(sum.Recent) == sample
		})
		if done || err != nil {
			return sum, err
		}
	}
}
