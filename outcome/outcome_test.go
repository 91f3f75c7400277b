package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"marketfleet/outcome"
)

var errBase = errors.New("base")

func TestOfReadsTheOutermostMarkThroughWrapping(t *testing.T) {
	sentinel := outcome.Mark(outcome.NotFound, errors.New("symbol not found"))
	for _, tc := range []struct {
		name string
		err  error
		want outcome.Class
	}{
		{"nil", nil, ""},
		{"unmarked", errBase, outcome.Transient},
		{"context", fmt.Errorf("fetch: %w", context.DeadlineExceeded), outcome.Transient},
		{"marked", outcome.Mark(outcome.Data, errBase), outcome.Data},
		{"wrapped sentinel", fmt.Errorf("yahoo X: HTTP 404: %w", sentinel), outcome.NotFound},
		{"joined", errors.Join(errBase, outcome.Mark(outcome.Invalid, errBase)), outcome.Invalid},
		{"outer mark wins", outcome.Mark(outcome.Busy, fmt.Errorf("lock: %w", sentinel)), outcome.Busy},
		{"retry after", fmt.Errorf("yahoo X: %w", outcome.RetryAfter(time.Minute, errBase)), outcome.Transient},
		{"own type", fmt.Errorf("wrapped: %w", ownError{}), outcome.Panic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := outcome.Of(tc.err); got != tc.want {
				t.Fatalf("Of(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

type ownError struct{}

func (ownError) Error() string        { return "own" }
func (ownError) Class() outcome.Class { return outcome.Panic }

func TestMarksKeepTheMessageAndTheChain(t *testing.T) {
	m := outcome.Mark(outcome.Rejected, errBase)
	if m.Error() != "base" || !errors.Is(m, errBase) {
		t.Fatalf("Mark: message %q, Is(base) %v", m.Error(), errors.Is(m, errBase))
	}
	r := outcome.RetryAfter(90*time.Second, errBase)
	if r.Error() != "base (retry after 1m30s)" || !errors.Is(r, errBase) {
		t.Fatalf("RetryAfter: message %q, Is(base) %v", r.Error(), errors.Is(r, errBase))
	}
	if outcome.Mark(outcome.Data, nil) != nil || outcome.RetryAfter(time.Second, nil) != nil {
		t.Fatal("marking nil must stay nil")
	}
}

func TestAfter(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{nil, 0},
		{errBase, 0},
		{outcome.Mark(outcome.Data, errBase), 0},
		{fmt.Errorf("x: %w", outcome.RetryAfter(time.Minute, errBase)), time.Minute},
		{outcome.Mark(outcome.Busy, outcome.RetryAfter(time.Second, errBase)), time.Second},
		{outcome.RetryAfter(-time.Second, errBase), 0},
	} {
		if got := outcome.After(tc.err); got != tc.want {
			t.Errorf("After(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestDeadLetterClasses(t *testing.T) {
	var dead []outcome.Class
	for _, c := range outcome.Classes {
		if c.DeadLetter() {
			dead = append(dead, c)
		}
	}
	want := []outcome.Class{outcome.Invalid, outcome.NotFound, outcome.Rejected, outcome.Data, outcome.BadData,
		outcome.Panic, outcome.Exhausted, outcome.MaxDeliveries}
	if fmt.Sprint(dead) != fmt.Sprint(want) {
		t.Fatalf("dead-letter classes %v, want %v", dead, want)
	}
	if outcome.Class("").DeadLetter() {
		t.Fatal("the empty class (success) is not a dead-letter class")
	}
}
