// Package requests turns on-demand collection requests, sent as plain core
// NATS messages, into high-priority collect tasks.
//
// Anyone with the stock nats CLI can ask for data:
//
//	nats req marketfleet.request.collect '{"symbols":["AAPL","MSFT"],"interval":"1d","range":"5d"}'
//
// A Service subscribes to Subject in the queue group QueueGroup, so that each
// request is handled by exactly one process of the fleet. Parse decodes a
// request strictly (unknown fields, trailing data and bad values are
// refused, every bad symbol is named) and builds one non-incremental collect
// task per symbol, at high priority unless the request says "normal". The
// Service publishes them with confirmed acks (queue.Publisher.PublishEach)
// and, when the request has a reply subject, answers with a Reply listing
// each task as accepted or duplicate (the task stream de-duplicates by
// message id, so the same request again within the stream's duplicate
// window, and for a relative range within the same bar, enqueues nothing).
//
// Failures answer with an ErrorReply. An invalid request is also
// dead-lettered (class outcome.Invalid, the reason, the original body and
// headers, the subject), whether or not it had a reply subject, so that a
// fire-and-forget `nats pub` mistake is visible to operators; an identical
// bad request sent again is one dead letter. A valid request whose tasks
// cannot be published (JetStream unavailable) is not dead-lettered: its
// reply says "retryable", and sending it again is safe.
//
// Requests are handled concurrently, at most Config.Concurrency at once. The
// subscription's callback (never the connection's read loop) only hands a
// request over; requests beyond Concurrency wait in the subscription's
// pending queue, and past Config.MaxPending the client library drops them as
// a slow consumer (the requester times out). Run drains the subscription when its context ends: requests already
// received are finished, each within Config.Timeout.
package requests
