package queue

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The headers of a JetStream atomic batch publish (nats-server 2.12+, a
// stream with AllowAtomicPublish): the server stages the messages of one
// batch id and stores them all, or none, when the one with the commit
// header arrives, and answers that one only.
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// batchAck is the server's answer to a batch's commit: a PubAck with the
// batch's id and size, or an error.
type batchAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  uint64 `json:"count"`
	Error  *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// errCodeAtomicDisabled is the server's error code for a batch sent to a
// stream without AllowAtomicPublish (JSAtomicPublishDisabledErr).
const errCodeAtomicDisabled = 10174

// publishAtomic stores msgs as one atomic batch and returns their
// outcomes, all new messages at consecutive sequences; ok is false when
// the batch was not stored as one (a duplicate in it, a stream that does
// not allow batches, a full stream, no answer in time), and the caller
// publishes them one by one: safe, since each carries its message id.
//
// Why: on a server that syncs every write (sync_interval: always) a batch
// costs one fsync where its messages one by one cost one each.
func (p *Publisher) publishAtomic(ctx context.Context, msgs []*nats.Msg) ([]Outcome, bool) {
	nc := p.js.Conn()
	id := strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
	var reply *nats.Msg
	for i, m := range msgs {
		bm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
		for k, v := range m.Header {
			bm.Header[k] = v
		}
		bm.Header.Set(jetstream.ExpectedStreamHeader, p.stream)
		bm.Header.Set(batchIDHeader, id)
		bm.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(bm); err != nil {
				return nil, false
			}
			continue
		}
		bm.Header.Set(batchCommitHeader, "1")
		rctx, cancel := context.WithTimeout(ctx, publishTimeout)
		var err error
		reply, err = nc.RequestMsgWithContext(rctx, bm)
		cancel()
		if err != nil {
			return nil, false
		}
	}
	var ack batchAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return nil, false
	}
	if ack.Error != nil {
		if ack.Error.ErrCode == errCodeAtomicDisabled {
			p.unbatched.Store(true) // a stream of an earlier version: stop trying
		}
		return nil, false
	}
	if ack.Batch == "" {
		// A server before 2.12 ignores the batch headers: it stored the
		// group as plain messages, and the caller's one-by-one publish will
		// find them duplicates. Stop batching.
		p.unbatched.Store(true)
		return nil, false
	}
	if ack.Stream != p.stream || ack.Batch != id || ack.Count != uint64(len(msgs)) || ack.Seq < ack.Count {
		return nil, false
	}
	first := ack.Seq - ack.Count + 1
	out := make([]Outcome, len(msgs))
	for i, m := range msgs {
		out[i] = Outcome{MsgID: m.Header.Get(jetstream.MsgIDHeader), Seq: first + uint64(i)}
	}
	return out, true
}
