package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RequestStream is the Stream recorded on the dead letter of a core NATS
// message (a request such as marketfleet.request.collect, which never was in
// a stream); its StreamSeq is 0 and its Delivered 1. Such a letter cannot be
// replayed (ErrNotReplayable): fix the request and send it anew.
const RequestStream = "request"

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

// WriteRequest stores the dead letter of msg, a core NATS message that was
// refused (a request that never was in a stream), and waits until the server
// confirms it. The letter keeps msg's body and headers (Nats-* headers
// excluded) and records its subject; its Stream is RequestStream and its id
// RequestMsgID, so writing the same refused request twice stores it once.
// It returns an error naming the subject when the dead-letter stream cannot
// be reached (after 3 attempts) or ctx ends; without a deadline on ctx one
// write waits at most 10s.
func (w *Writer) WriteRequest(ctx context.Context, msg *nats.Msg, l Letter) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, writeTimeout)
		defer cancel()
	}
	src := source{stream: RequestStream, subject: msg.Subject, delivered: 1, header: msg.Header, data: msg.Data}
	m := newMessage(SubjectPrefix, src, l, w.now())
	m.Header.Set(jetstream.MsgIDHeader, RequestMsgID(msg.Subject, msg.Data))
	_, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(w.cfg.Stream),
		jetstream.WithRetryAttempts(3), jetstream.WithRetryWait(200*time.Millisecond))
	if err != nil {
		return fmt.Errorf("dead-letter request on %s: %w", msg.Subject, err)
	}
	w.confirmed(l)
	return nil
}
