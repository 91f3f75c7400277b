package runner

import (
	"time"

	"marketfleet/outcome"
	"marketfleet/store"
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
	Kind     tasks.Kind     // "" when the envelope did not decode
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
}

// BatchStats is what one batch did.
type BatchStats struct {
	Tasks int
	Took  time.Duration
	// BarsWritten were in committed writes; BarsChanged of them were
	// inserted or updated.
	BarsWritten int
	BarsChanged int64
}

// Observer is told about every settled task and batch, after the fact, on
// the batch loop's goroutine: it must not block. The worker feeds its
// metrics and its per-minute task counts from it.
type Observer interface {
	TaskSettled(s Settlement)
	BatchDone(b BatchStats)
}

// observe reports a finished batch to the Observer, if any.
func (r *Runner) observe(items []*item, start time.Time, written int, changes []store.SeriesChange) {
	o := r.cfg.Observer
	if o == nil {
		return
	}
	for _, it := range items {
		s := Settlement{Kind: it.task.Kind, Priority: it.task.Priority, Class: it.class,
			Took: it.settled.Sub(start)}
		switch it.act {
		case actAck:
			s.Outcome = OutcomeOK
		case actRetry:
			s.Outcome = OutcomeRetried
		case actTerm:
			s.Outcome = OutcomeDeadLettered
		}
		if !it.published.IsZero() {
			s.Latency = it.settled.Sub(it.published)
		}
		o.TaskSettled(s)
	}
	var changed int64
	for _, c := range changes {
		changed += c.Rows
	}
	o.BatchDone(BatchStats{Tasks: len(items), Took: time.Since(start), BarsWritten: written, BarsChanged: changed})
}
