package requests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"marketfleet/dlq"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/tasks"
)

// handle answers one request: publish its tasks, or refuse it.
func (s *Service) handle(ctx context.Context, m *nats.Msg) {
	began := time.Now()
	ts, err := Parse(m.Data, s.cfg.Limits, s.cfg.Now())
	if err != nil {
		s.refuse(ctx, m, err, began)
		return
	}
	outs, res, err := s.cfg.Publisher.PublishEach(ctx, ts)
	switch {
	case errors.Is(err, tasks.ErrInvalid): // Parse validated every task: cannot happen
		s.refuse(ctx, m, fromTaskError(err), began)
		return
	case err != nil:
		s.unavailable(m, len(ts), res, err, began)
		return
	}
	s.handled("accepted")
	s.log.Info().Str("requested_by", ts[0].RequestedBy).Int("symbols", len(ts)).
		Str("interval", string(ts[0].Interval)).Int("accepted", res.Accepted).Int("duplicates", res.Duplicates).
		Stringer("took", time.Since(began)).Msg("collection request")
	s.respond(m, newReply(ts, outs))
}

// refuse records an invalid request in the refused-request stream, then
// answers it with the reason. The record comes first, so that a requester
// who sees the error can find it; a failure to write it is logged and does
// not change the answer. A sender over Config.RecordRate is answered the
// same, and not recorded: junk cannot fill the stream at will.
func (s *Service) refuse(ctx context.Context, m *nats.Msg, reason error, began time.Time) {
	sender := Sender(m.Reply)
	if !s.kept.allow(sender) {
		s.handled("unrecorded")
		s.log.Debug().Str("reason", reason.Error()).Str("sender", sender).Int("bytes", len(m.Data)).
			Msg("collection request refused, not recorded: its sender is over FLEET_REFUSED_RATE")
		s.respond(m, ErrorReply{Error: reason.Error()})
		return
	}
	s.handled("invalid")
	l := dlq.Letter{Reason: reason.Error(), Class: outcome.Invalid, Worker: s.cfg.WorkerID, Kind: string(tasks.KindCollect)}
	if err := s.cfg.DeadLetters.WriteRequest(ctx, m, l); err != nil {
		s.log.Error().Err(err).Str("reason", reason.Error()).Int("bytes", len(m.Data)).
			Msg("collection request refused, and its record was not stored")
	} else {
		s.log.Info().Str("reason", reason.Error()).Str("sender", sender).Int("bytes", len(m.Data)).
			Stringer("took", time.Since(began)).Msg("collection request refused and recorded")
	}
	s.respond(m, ErrorReply{Error: reason.Error()})
}

// unavailable answers a valid request whose tasks could not all be
// published. It is not dead-lettered: sending it again is the remedy.
func (s *Service) unavailable(m *nats.Msg, n int, res queue.Result, err error, began time.Time) {
	s.handled("failed")
	s.log.Warn().Err(err).Int("symbols", n).Int("accepted", res.Accepted).Int("duplicates", res.Duplicates).
		Stringer("took", time.Since(began)).Msg("collection request not published")
	msg := fmt.Sprintf("publish tasks: %v (%d of %d confirmed before the failure; sending the request again is safe)",
		err, res.Accepted+res.Duplicates, n)
	s.respond(m, ErrorReply{Error: msg, Retryable: true})
}

func (s *Service) handled(outcome string) {
	if s.cfg.Handled != nil {
		s.cfg.Handled(outcome)
	}
}

// respond sends v as JSON to m's reply subject, if it has one.
func (s *Service) respond(m *nats.Msg, v any) {
	if m.Reply == "" {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // people read these: keep "&" in "M&M.NS"
	err := enc.Encode(v)
	if err == nil {
		err = m.Respond(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("reply to collection request")
	}
}
