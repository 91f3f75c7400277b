package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/source"
	"marketfleet/tasks"
)

func pgErr(code string) error {
	return fmt.Errorf("write bars: %w", &pgconn.PgError{Code: code, Message: "x"})
}

func TestDecide(t *testing.T) {
	_, decodeErr := tasks.Decode([]byte(`{"v":7}`))
	for _, tc := range []struct {
		name      string
		err       error
		delivered uint64
		act       action
		class     string
	}{
		{"ok", nil, 1, actAck, ""},
		{"invalid envelope", decodeErr, 1, actTerm, dlq.ClassInvalid},
		{"unknown symbol", fmt.Errorf("yahoo X: %w", source.ErrNotFound), 1, actTerm, dlq.ClassNotFound},
		{"source refused", fmt.Errorf("yahoo X: %w", source.ErrRejected), 1, actTerm, dlq.ClassRejected},
		{"check violation", pgErr("23514"), 1, actTerm, dlq.ClassData},
		{"numeric out of range", pgErr("22003"), 1, actTerm, dlq.ClassData},
		{"too many connections", pgErr("53300"), 1, actRetry, classTransient},
		{"admin shutdown", pgErr("57P01"), 1, actRetry, classTransient},
		{"cannot connect now", pgErr("57P03"), 1, actRetry, classTransient},
		{"connection failure", pgErr("08006"), 1, actRetry, classTransient},
		{"serialization", pgErr("40001"), 1, actRetry, classTransient},
		{"deadlock", pgErr("40P01"), 1, actRetry, classTransient},
		{"statement timeout", pgErr("57014"), 1, actRetry, classTransient},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, 1, actRetry, classTransient},
		{"timeout", context.DeadlineExceeded, 1, actRetry, classTransient},
		{"rate limited", &source.RetryAfterError{After: time.Minute, Err: errors.New("HTTP 429")}, 1, actRetry, classTransient},
		{"transient on the last delivery", pgErr("53300"), 5, actTerm, dlq.ClassExhausted},
		{"permanent on the last delivery keeps its class", pgErr("23514"), 5, actTerm, dlq.ClassData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, class := decide(tc.err, tc.delivered, 5)
			if act != tc.act || class != tc.class {
				t.Fatalf("decide(%v, delivered %d) = %v %q, want %v %q", tc.err, tc.delivered, act, class, tc.act, tc.class)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: 8 * time.Second}
	for delivered, ceiling := range map[uint64]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 1 << 40: 8 * time.Second} {
		d := retryDelay(p, delivered, errors.New("x"))
		if d < ceiling/2 || d > ceiling {
			t.Errorf("delivery %d: delay %s, want in [%s, %s]", delivered, d, ceiling/2, ceiling)
		}
	}
	ra := &source.RetryAfterError{After: time.Minute, Err: errors.New("HTTP 429")}
	if d := retryDelay(p, 1, fmt.Errorf("wrapped: %w", ra)); d != time.Minute {
		t.Errorf("Retry-After 1m gave %s", d)
	}
}
