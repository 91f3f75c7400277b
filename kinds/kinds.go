package kinds

import (
	"errors"
	"github.com/rs/zerolog"
	"time"

	"marketfleet/history"
	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/store"
)

// Config is what the handlers need from the worker. Source is required (for
// Register; Names needs none).
type Config struct {
	// Source fetches the bars of collect tasks.
	Source source.Source
	// History says when a bar is final: collect tasks mark the bars they
	// fetched before that as provisional. Nil stores every bar as final
	// (benchmarks, tests about something else).
	History *history.Policy
	// Features makes a collect task that changed stored bars enqueue a
	// features task for its series, from the first changed bar on.
	// Defaults to off.
	Features bool
	// RequestedBy names the worker in the follow-up tasks it enqueues
	// ("worker/<id>"). Defaults to "worker".
	RequestedBy string
	// Restated, if set, is told every restatement a restate task
	// committed (for metrics). Defaults to none.
	Restated func(store.Restatement)
	// Empty, if set, is told every request the source answered with no
	// bars at all (logged and counted: an empty answer must be visible).
	// Defaults to none.
	Empty func(source.Request)
	// Repaired, if set, is told what each repair task did (for metrics).
	// Defaults to none.
	Repaired func(Repair)
	// Deadline bounds the source's time for one collect task (its
	// requests, retries and Retry-After waits, not its waits for the
	// fleet's rate limit: source.WithDeadline): past it the task fails
	// alone with ErrDeadline, transient, and is retried with its own
	// delay while its batch is written without it. 0: none.
	Deadline time.Duration
	// Logger receives what a handler notices but the task survives (for
	// collect: the last stored bars could not be read). Defaults to none.
	Logger zerolog.Logger
}

// Repair is what one repair task (tasks.Task.Repair) did to its gap.
type Repair struct {
	market.Series
	// Filled counts the bars it stored that were not stored before, or
	// changed; Holes the expected bars the source had no data for, now
	// known holes.
	Filled, Holes int64
}

// ErrDeadline fails a collect task whose source ran past Config.Deadline
// (FLEET_TASK_DEADLINE): a slow source request must not hold the rest of
// its batch, nor the housekeeping behind it. Transient: the task is
// returned to the queue with its own retry delay, and its batch is written
// without it.
var ErrDeadline = errors.New("task deadline passed")

// Names are the kind strings Register registers, in its order.
func Names() []string {
	var out []string
	for _, k := range Register(Config{}).Kinds() {
		out = append(out, string(k))
	}
	return out
}

// Register returns a registry of every kind this build runs, one line per
// kind: the registration line of a new kind goes here.
func Register(cfg Config) *runner.Registry {
	reg := runner.NewRegistry()
	runner.Register(reg, Collect{Config: cfg})
	runner.Register(reg, Features{})
	runner.Register(reg, Restate{Config: cfg})
	return reg
}
