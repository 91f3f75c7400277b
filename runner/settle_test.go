package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/features"
	"marketfleet/internal/backoff"
	"marketfleet/outcome"
	"marketfleet/source"
	"marketfleet/tasks"
)

func pgErr(code string) error {
	return fmt.Errorf("write bars: %w", &pgconn.PgError{Code: code, Message: "x"})
}

// refused is a database error as package store returns it for data the
// database refuses (marked where it is made; store's own tests check that).
func refused(code string) error {
	return fmt.Errorf("write bars: %w", outcome.Mark(outcome.Data, &pgconn.PgError{Code: code, Message: "x"}))
}

func TestDecide(t *testing.T) {
	_, decodeErr := tasks.Decode([]byte(`{"v":7}`))
	for _, tc := range []struct {
		name      string
		err       error
		delivered uint64
		act       action
		class     outcome.Class
	}{
		{"ok", nil, 1, actAck, ""},
		{"invalid envelope", decodeErr, 1, actTerm, outcome.Invalid},
		{"unknown symbol", fmt.Errorf("yahoo X: %w", source.ErrNotFound), 1, actTerm, outcome.NotFound},
		{"source refused", fmt.Errorf("yahoo X: %w", source.ErrRejected), 1, actTerm, outcome.Rejected},
		{"check violation", refused("23514"), 1, actTerm, outcome.Data},
		{"numeric out of range", refused("22003"), 1, actTerm, outcome.Data},
		{"too many connections", pgErr("53300"), 1, actRetry, outcome.Transient},
		{"admin shutdown", pgErr("57P01"), 1, actRetry, outcome.Transient},
		{"cannot connect now", pgErr("57P03"), 1, actRetry, outcome.Transient},
		{"connection failure", pgErr("08006"), 1, actRetry, outcome.Transient},
		{"serialization", pgErr("40001"), 1, actRetry, outcome.Transient},
		{"deadlock", pgErr("40P01"), 1, actRetry, outcome.Transient},
		{"statement timeout", pgErr("57014"), 1, actRetry, outcome.Transient},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, 1, actRetry, outcome.Transient},
		{"timeout", context.DeadlineExceeded, 1, actRetry, outcome.Transient},
		{"rate limited", outcome.RetryAfter(time.Minute, errors.New("HTTP 429")), 1, actRetry, outcome.Transient},
		{"bars the features refuse", fmt.Errorf("features X: %w", features.ErrUnsorted), 1, actTerm, outcome.Data},
		{"busy series", fmt.Errorf("collect X: %w", ErrBusy), 1, actRetry, outcome.Busy},
		{"transient on the last delivery", pgErr("53300"), 5, actTerm, outcome.Exhausted},
		{"permanent on the last delivery keeps its class", refused("23514"), 5, actTerm, outcome.Data},
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
		d, capped := retryDelay(p, delivered, errors.New("x"))
		if d < ceiling/2 || d > ceiling || capped {
			t.Errorf("delivery %d: delay %s, want in [%s, %s]", delivered, d, ceiling/2, ceiling)
		}
	}
	ra := outcome.RetryAfter(5*time.Second, errors.New("HTTP 429"))
	if d, capped := retryDelay(p, 1, fmt.Errorf("wrapped: %w", ra)); d != 5*time.Second || capped {
		t.Errorf("Retry-After 5s gave %s (capped %v)", d, capped)
	}
	// A source asking for ~31 years gets Max: the delivery fails like any
	// other instead of parking the task.
	ra = outcome.RetryAfter(999999999*time.Second, errors.New("HTTP 429"))
	if d, capped := retryDelay(p, 1, ra); d != p.Max || !capped {
		t.Errorf("Retry-After 999999999s gave %s (capped %v), want %s, capped", d, capped, p.Max)
	}
}
