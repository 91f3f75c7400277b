package runner

import (
	"context"
	"fmt"
	"slices"

	"marketfleet/market"
	"marketfleet/store"
	"marketfleet/tasks"
)

// Handler runs the tasks of one kind in the phases of a batch. S is the
// state one task carries from phase to phase; every job starts with the
// zero S. A kind is one Handler in one file, registered under its kind
// string (Register).
//
// For the jobs still ok, the pipeline calls, in order:
//
//   - Prepare, on the batch loop with the session, once for all the kind's
//     jobs of the batch, before any fetch: reads only (store.Reader), one
//     round trip for all jobs at best. An error fails every job given.
//   - Fetch, once per job, concurrently with the other jobs of the batches in
//     flight (at most Config.FetchConcurrency at once): network or CPU work,
//     never the session. An error fails that job alone.
//   - Write, inside the batch's one transaction, once for all the kind's
//     jobs. A job that alone cannot be written is failed with Job.Fail and
//     the others go on; an error the transaction cannot survive (any error
//     of a statement) is returned: the batch is then replayed on a new
//     session (a lost session) or written one job at a time (a permanent
//     error, a panic), so that only the job at fault fails. Write must
//     therefore be idempotent, and overwrite what it records in the state.
//     A kind whose Write is heavy or may wait on a lock implements
//     Separate: its jobs then write one by one, each in a transaction of
//     its own, after the batch's has committed.
//   - FollowUps, once per job after the commit: tasks to enqueue, stored
//     before the job is acknowledged. It runs on the settler's goroutine,
//     while the next batch's Prepare and Write may run: it must only read
//     its job, and a handler with state of its own must guard it.
//
// A handler never acknowledges. Its errors say what they are (package
// outcome): a transient error retries the task later, a dead-letter class
// dead-letters it. A panic in any phase is caught and fails the job it
// belongs to with class outcome.Panic; the rest of the batch goes on.
//
// Embed Defaults[S] to leave out the phases a kind does not need.
type Handler[S any] interface {
	// Kind is the stable kind string the handler runs.
	Kind() tasks.Kind
	Prepare(ctx context.Context, db store.Reader, jobs []*Job[S]) error
	Fetch(ctx context.Context, job *Job[S]) error
	Write(ctx context.Context, tx *store.Tx, jobs []*Job[S]) error
	FollowUps(job *Job[S]) []tasks.Task
}

// Separate is implemented by a Handler whose jobs each write in a
// transaction of their own, after the batch's transaction has committed,
// each within its own Tuning.WriteTimeout: for work that is heavy or may
// wait on a lock (a features recompute reads a series' whole history), so
// that it neither holds up nor fails the rest of the batch. Any error of
// such a Write, the database's included, fails its job alone.
type Separate interface {
	// SeparateTransactions marks the handler; it is never called.
	SeparateTransactions()
}

// Defaults gives a Handler no-op Prepare, Fetch and FollowUps phases: embed
// it and write Kind and Write, and whichever other phases the kind needs.
type Defaults[S any] struct{}

// Prepare does nothing.
func (Defaults[S]) Prepare(context.Context, store.Reader, []*Job[S]) error { return nil }

// Fetch does nothing.
func (Defaults[S]) Fetch(context.Context, *Job[S]) error { return nil }

// FollowUps returns none.
func (Defaults[S]) FollowUps(*Job[S]) []tasks.Task { return nil }

// Job is one task of a batch, as its kind's handler sees it. The runner
// makes one per task; a handler's tests may make their own.
type Job[S any] struct {
	// Task is the decoded envelope.
	Task tasks.Task
	// Delivered is the delivery count: 1 on the first delivery.
	Delivered uint64
	// State is the handler's own, carried from phase to phase.
	State S

	err     error
	rows    int
	changed int64
}

// Series is the job's symbol and interval.
func (j *Job[S]) Series() market.Series {
	return market.Series{Symbol: j.Task.Symbol, Interval: j.Task.Interval}
}

// Fail marks the job failed with err, which says what it is (package
// outcome), prefixed with the task's kind, symbol and interval; the first
// failure stays, and Fail(nil) does nothing. A failed job takes part in no
// later phase, and is retried or dead-lettered by its error's class.
func (j *Job[S]) Fail(err error) {
	if j.err == nil && err != nil {
		j.err = fmt.Errorf("%s %s %s: %w", j.Task.Kind, j.Task.Symbol, j.Task.Interval, err)
	}
}

// Err is the job's failure, nil while it is ok.
func (j *Job[S]) Err() error { return j.err }

// Stored records what the job's Write stored: rows written (for a collect
// task, bars) and how many of them were inserted or changed. The runner
// reports them by kind once the write is committed (BatchStats.Rows).
func (j *Job[S]) Stored(rows int, changed int64) { j.rows, j.changed = rows, changed }

// Stats returns what Stored recorded.
func (j *Job[S]) Stats() (rows int, changed int64) { return j.rows, j.changed }

// job is a *Job[S] with its state type erased: what an item holds.
type job interface {
	Fail(err error)
	Err() error
	Stats() (rows int, changed int64)
}

// kind is a registered Handler, with its job state type erased: the
// pipeline's view.
type kind interface {
	name() tasks.Kind
	separate() bool // its jobs write in transactions of their own (Separate)
	newJob(t tasks.Task, delivered uint64) job
	prepare(ctx context.Context, db store.Reader, items []*item) error
	fetch(ctx context.Context, it *item) error
	write(ctx context.Context, tx *store.Tx, items []*item) error
	followUps(it *item) []tasks.Task
}

// handlerOf adapts a Handler[S] to kind.
type handlerOf[S any] struct{ h Handler[S] }

func (a handlerOf[S]) name() tasks.Kind { return a.h.Kind() }

func (a handlerOf[S]) separate() bool { _, ok := a.h.(Separate); return ok }

func (a handlerOf[S]) newJob(t tasks.Task, delivered uint64) job {
	return &Job[S]{Task: t, Delivered: delivered}
}

func (a handlerOf[S]) job(it *item) *Job[S] { return it.job.(*Job[S]) }

func (a handlerOf[S]) jobs(items []*item) []*Job[S] {
	out := make([]*Job[S], len(items))
	for i, it := range items {
		out[i] = a.job(it)
	}
	return out
}

func (a handlerOf[S]) prepare(ctx context.Context, db store.Reader, items []*item) error {
	return a.h.Prepare(ctx, db, a.jobs(items))
}

func (a handlerOf[S]) fetch(ctx context.Context, it *item) error { return a.h.Fetch(ctx, a.job(it)) }

func (a handlerOf[S]) write(ctx context.Context, tx *store.Tx, items []*item) error {
	return a.h.Write(ctx, tx, a.jobs(items))
}

func (a handlerOf[S]) followUps(it *item) []tasks.Task { return a.h.FollowUps(a.job(it)) }

// Registry holds the handler of every kind a worker runs. Create one with
// NewRegistry, add each kind with Register, and give it to New in
// Config.Kinds. A task of a kind the registry lacks is dead-lettered as
// invalid.
type Registry struct {
	kinds []kind // in registration order: the order kinds write in a batch
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds h under h.Kind(). It panics if the kind string is not a
// lower-case word of at most 32 letters, digits and underscores, or is
// registered already: both are programming errors, found at start.
func Register[S any](r *Registry, h Handler[S]) {
	k := h.Kind()
	if !k.Valid() {
		panic(fmt.Sprintf("runner.Register: kind %q: want a lower-case word of letters, digits and _", k))
	}
	if r.lookup(k) != nil {
		panic(fmt.Sprintf("runner.Register: kind %q registered twice", k))
	}
	r.kinds = append(r.kinds, &handlerOf[S]{h: h}) // a pointer: kinds are compared
}

// Kinds lists the registered kinds, in registration order.
func (r *Registry) Kinds() []tasks.Kind {
	out := make([]tasks.Kind, len(r.kinds))
	for i, k := range r.kinds {
		out[i] = k.name()
	}
	return out
}

func (r *Registry) lookup(name tasks.Kind) kind {
	i := slices.IndexFunc(r.kinds, func(k kind) bool { return k.name() == name })
	if i < 0 {
		return nil
	}
	return r.kinds[i]
}
