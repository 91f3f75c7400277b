package runner

import (
	"time"

	"marketfleet/outcome"
	"marketfleet/tasks"
)

// Outcomes of a task, as an Observer sees them.
const (
	OutcomeOK           = "ok"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
)

// Settlement is what became of one task.
type Settlement struct {
	Kind     tasks.Kind     // "" when the envelope did not decode or names a kind without a handler
	Priority tasks.Priority // PriorityNormal or PriorityHigh
	// Outcome is OutcomeOK, OutcomeRetried or OutcomeDeadLettered.
	Outcome string
	// Class is the error class (outcome.Transient, outcome.Busy, or a
	// dead-letter class), "" for OutcomeOK.
	Class outcome.Class
	// Took is from the start of the batch to the settlement.
	Took time.Duration
	// Latency is from publish (the stream's timestamp) to the settlement.
	Latency time.Duration
	// Of a retried task (OutcomeRetried): its message (Stream, Seq), its
	// symbol, the error, and when it may be delivered again.
	Stream  string
	Seq     uint64
	Symbol  string
	Err     error
	RetryAt time.Time
}

// BatchStats is what one batch did.
type BatchStats struct {
	Tasks int
	Took  time.Duration
	// Rows are what the batch's tasks stored in committed writes
	// (Job.Stored), by kind: for collect tasks, bars.
	Rows map[tasks.Kind]Rows
}

// Rows is what the tasks of one kind stored.
type Rows struct {
	// Stored rows were in committed writes; Changed of them were inserted
	// or updated.
	Stored  int
	Changed int64
}

// Observer is told about every settled task and batch, after the fact, on
// the batch loop's goroutine: it must not block. The worker feeds its
// metrics and its per-minute task counts from it.
type Observer interface {
	TaskSettled(s Settlement)
	BatchDone(b BatchStats)
}

// observe reports a finished batch to the Observer, if any.
func (r *Runner) observe(items []*item, start time.Time) {
	o := r.cfg.Observer
	if o == nil {
		return
	}
	stats := BatchStats{Tasks: len(items), Rows: map[tasks.Kind]Rows{}}
	for _, it := range items {
		if it.committed {
			rows, changed := it.job.Stats()
			r := stats.Rows[it.task.Kind]
			r.Stored, r.Changed = r.Stored+rows, r.Changed+changed
			stats.Rows[it.task.Kind] = r
		}
		kind := it.task.Kind
		if it.kind == nil {
			kind = "" // did not decode, or no handler: not a label value
		}
		s := Settlement{Kind: kind, Priority: it.task.Priority, Class: it.class,
			Took: it.settled.Sub(start)}
		switch it.act {
		case actAck:
			s.Outcome = OutcomeOK
		case actRetry:
			s.Outcome = OutcomeRetried
			s.Stream, s.Seq, s.Symbol, s.Err, s.RetryAt = it.stream, it.seq, it.task.Symbol, it.failure(), it.retryAt
		case actTerm:
			s.Outcome = OutcomeDeadLettered
		}
		if !it.published.IsZero() {
			s.Latency = it.settled.Sub(it.published)
		}
		o.TaskSettled(s)
	}
	stats.Took = time.Since(start)
	o.BatchDone(stats)
}
