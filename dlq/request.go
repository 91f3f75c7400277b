package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RequestStream is the Stream recorded on the dead letter of a core NATS
// message (a request such as marketfleet.request.collect, which never was in
// a stream); its StreamSeq is 0 and its Delivered 1. Such a letter cannot be
// replayed (ErrNotReplayable): fix the request and send it anew.
const RequestStream = "request"

// MaxRefusedBody is how much of a refused request's body its record keeps;
// the record also keeps the body's size and SHA-256, so the requester can
// match it against what they sent.
const MaxRefusedBody = 4 << 10

// maxRefusedHeaders bounds the request's own headers kept on its record;
// beyond it the remaining headers are dropped (and counted).
const maxRefusedHeaders = 1 << 10

// maxRefusedRecord is the refused-request stream's largest message: the
// kept body, the kept headers, the reason and the record's own headers.
const maxRefusedRecord = 16 << 10

// RequestMsgID is the message id of the dead letter of a core NATS message
// on subject with body data: "dlq:request:" and the hex SHA-256 of the
// subject, a NUL byte and the body. The same bad request sent again within
// the dead-letter stream's duplicate window (1 hour) is stored once; headers
// and the reply subject play no part.
func RequestMsgID(subject string, data []byte) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(data)
	return "dlq:request:" + hex.EncodeToString(h.Sum(nil))
}

// WriteRequest stores the record of msg, a core NATS message that was
// refused (a request that never was in a stream), in the refused-request
// stream (never the dead-letter stream of tasks), and waits until the server
// confirms it. The record keeps the first MaxRefusedBody bytes of msg's body,
// its size and SHA-256 (Record.BodyBytes, Record.BodySHA256), its headers
// up to 1 KiB (Nats-* headers excluded) and its subject; its Stream is
// RequestStream and its id RequestMsgID, so writing the same refused request
// twice stores it once. It returns an error naming the subject when the
// stream cannot be reached (after 3 attempts) or ctx ends; without a
// deadline on ctx one write waits at most 10s.
func (w *Writer) WriteRequest(ctx context.Context, msg *nats.Msg, l Letter) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, writeTimeout)
		defer cancel()
	}
	header, dropped := boundHeaders(msg.Header, maxRefusedHeaders)
	src := source{stream: RequestStream, subject: msg.Subject, delivered: 1, header: header,
		data: msg.Data[:min(len(msg.Data), MaxRefusedBody)]}
	m := newMessage(RefusedSubjectPrefix, src, l, w.now())
	sum := sha256.Sum256(msg.Data)
	m.Header.Set(HeaderBodyBytes, strconv.Itoa(len(msg.Data)))
	m.Header.Set(HeaderBodySHA256, hex.EncodeToString(sum[:]))
	if dropped > 0 {
		m.Header.Set(HeaderHeadersDropped, strconv.Itoa(dropped))
	}
	if id := msg.Header.Get(jetstream.MsgIDHeader); id != "" {
		m.Header.Set(HeaderOrigMsgID, headerSafe(id[:min(len(id), 256)]))
	}
	m.Header.Set(jetstream.MsgIDHeader, RequestMsgID(msg.Subject, msg.Data))
	_, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(w.cfg.RefusedStream),
		jetstream.WithRetryAttempts(3), jetstream.WithRetryWait(200*time.Millisecond))
	if err != nil {
		w.failed(w.cfg.RefusedStream)
		return fmt.Errorf("record refused request on %s: %w", msg.Subject, err)
	}
	w.confirmed(l)
	return nil
}

// boundHeaders returns the headers of h, Nats-* ones excluded, in name
// order, while their names and values fit in limit bytes, and how many
// values it dropped.
func boundHeaders(h nats.Header, limit int) (nats.Header, int) {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !strings.HasPrefix(k, headerNATSPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out, size, dropped := nats.Header{}, 0, 0
	for _, k := range keys {
		for _, v := range h[k] {
			if size += len(k) + len(v) + 4; size > limit {
				dropped++
				continue
			}
			out.Add(k, v)
		}
	}
	return out, dropped
}
