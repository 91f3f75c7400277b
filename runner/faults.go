package runner

import "context"

// Faults are the pause points fault tests use to kill, cut off or signal a
// worker at exactly one moment of a batch. Production code leaves them nil;
// the worker sets them only from its test-only MARKETFLEET_TEST_PAUSE
// variable. Each is called on the batch loop's goroutine and may block.
type Faults struct {
	// BeforeCommit is called inside each of a batch's transactions (the
	// shared one, and each of a Separate kind's jobs), after its writes and
	// before the commit; not for a transaction that wrote nothing.
	BeforeCommit func(ctx context.Context)
	// AfterCommit is called once each of a batch's transactions is
	// committed, before the batch's follow-ups are enqueued and its
	// messages acknowledged; not for a transaction that wrote nothing.
	AfterCommit func(ctx context.Context)
}

func (f Faults) beforeCommit(ctx context.Context) {
	if f.BeforeCommit != nil {
		f.BeforeCommit(ctx)
	}
}

func (f Faults) afterCommit(ctx context.Context) {
	if f.AfterCommit != nil {
		f.AfterCommit(ctx)
	}
}
