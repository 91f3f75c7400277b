package requests

import (
	"time"

	"marketfleet/queue"
	"marketfleet/tasks"
)

// Values of TaskStatus.Status.
const (
	// StatusAccepted: the task stream stored the task as new work.
	StatusAccepted = "accepted"
	// StatusDuplicate: the task stream already held the same task (same
	// symbol, interval, window and priority) within its de-duplication
	// window, and did not store it again.
	StatusDuplicate = "duplicate"
)

// ForceHint is Reply.Hint when some tasks were duplicates.
const ForceHint = `tasks marked "duplicate" were already published within FLEET_DEDUP_WINDOW (the de-duplication window): send the request again with "force": true to collect them again`

// Reply answers a request whose tasks were all published.
type Reply struct {
	// Accepted counts the tasks stored as new work.
	Accepted int `json:"accepted"`
	// Duplicates counts the tasks already published within the
	// de-duplication window.
	Duplicates int `json:"duplicates"`
	// Forced counts the accepted tasks that were forced ("force": true).
	Forced int `json:"forced,omitempty"`
	// Hint says how to collect duplicates again (ForceHint), when there
	// are some.
	Hint string `json:"hint,omitempty"`
	// Tasks lists one entry per distinct symbol, in request order.
	Tasks []TaskStatus `json:"tasks"`
}

// TaskStatus is what became of one task of a request.
type TaskStatus struct {
	Symbol   string    `json:"symbol"`
	Interval string    `json:"interval"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Priority is PriorityHigh or PriorityNormal.
	Priority string `json:"priority"`
	// ID is the task's message id (tasks.Task.MsgID).
	ID string `json:"id"`
	// Status is StatusAccepted or StatusDuplicate.
	Status string `json:"status"`
	// Forced is true for a forced task.
	Forced bool `json:"forced,omitempty"`
}

// ErrorReply answers a request that was refused or could not be published.
type ErrorReply struct {
	// Error says what went wrong, on one line; for an invalid request it
	// names the field.
	Error string `json:"error"`
	// Retryable is true when the request was valid but its tasks could not
	// all be published: sending the same request again is safe (tasks
	// already queued come back as duplicates).
	Retryable bool `json:"retryable,omitempty"`
}

// newReply pairs ts with the publisher's outcomes (outs[i] belongs to ts[i]).
func newReply(ts []tasks.Task, outs []queue.Outcome) Reply {
	r := Reply{Tasks: make([]TaskStatus, len(ts))}
	for i, t := range ts {
		st := TaskStatus{
			Symbol: t.Symbol, Interval: string(t.Interval), From: t.From, To: t.To,
			Priority: PriorityNormal, ID: t.MsgID(), Status: StatusAccepted, Forced: t.Forced,
		}
		if t.Priority == tasks.PriorityHigh {
			st.Priority = PriorityHigh
		}
		if i < len(outs) && outs[i].Duplicate {
			st.Status = StatusDuplicate
			r.Duplicates++
		} else {
			r.Accepted++
			if t.Forced {
				r.Forced++
			}
		}
		r.Tasks[i] = st
	}
	if r.Duplicates > 0 {
		r.Hint = ForceHint
	}
	return r
}
