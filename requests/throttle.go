package requests

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config.RecordRate and of the bounds derived from it.
const (
	// DefaultRecordRate is how many refused requests per second one sender
	// may have recorded.
	DefaultRecordRate = 1.0
	// recordBurst is how many refused requests a quiet sender may have
	// recorded back to back, as a multiple of the rate (at least 1).
	recordBurst = 10
	// recordProcessFactor makes the process-wide bound: this many senders'
	// worth, so that senders who forge new identities are bounded too.
	recordProcessFactor = 10
	// maxSenders bounds the senders a Service remembers; beyond it, the
	// idle ones are forgotten, and if none is idle all new senders share
	// one bucket.
	maxSenders = 4096
)

// recordLimiter decides whether a refused request is recorded: each sender
// (Sender) gets its own token bucket, and the process one more, ten senders
// wide. A refused request over either bound is still answered with its
// reason; it is only not recorded. Safe for concurrent use.
type recordLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	all     *rate.Limiter
	senders map[string]*rate.Limiter
	now     func() time.Time
}

func newRecordLimiter(perSecond float64, now func() time.Time) *recordLimiter {
	burst := max(1, int(perSecond*recordBurst))
	return &recordLimiter{every: rate.Limit(perSecond), burst: burst,
		all:     rate.NewLimiter(rate.Limit(perSecond*recordProcessFactor), burst*recordProcessFactor),
		senders: map[string]*rate.Limiter{}, now: now}
}

// allow reports whether a refused request from sender may be recorded now,
// and spends a token of both buckets if so.
func (r *recordLimiter) allow(sender string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	l := r.sender(sender, now)
	if !l.AllowN(now, 1) {
		return false
	}
	return r.all.AllowN(now, 1)
}

// sender returns sender's bucket, making room among the remembered ones.
func (r *recordLimiter) sender(sender string, now time.Time) *rate.Limiter {
	if l, ok := r.senders[sender]; ok {
		return l
	}
	if len(r.senders) >= maxSenders {
		for k, l := range r.senders { // a full bucket is an idle sender
			if l.TokensAt(now) >= float64(r.burst) {
				delete(r.senders, k)
			}
		}
	}
	if len(r.senders) >= maxSenders {
		sender = "(overflow)"
		if l, ok := r.senders[sender]; ok {
			return l
		}
	}
	l := rate.NewLimiter(r.every, r.burst)
	r.senders[sender] = l
	return l
}

// Sender names who sent a request, as far as core NATS lets a receiver
// tell: its reply subject without the last token. A client library answers
// every request of one connection on one inbox prefix (_INBOX.<id>.*), so
// this is one sender per connection; a request without a reply subject is
// "(no reply)". A client that invents a new prefix per request is still
// held by the process-wide bound.
func Sender(reply string) string {
	if reply == "" {
		return "(no reply)"
	}
	if i := strings.LastIndexByte(reply, '.'); i > 0 {
		return reply[:i]
	}
	return reply
}
