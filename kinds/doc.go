// Package kinds holds the handler of every kind of task the fleet runs, one
// kind per file, each registered under its stable kind string by Register.
//
//   - collect.go: collect tasks (tasks.KindCollect) fetch the bars and the
//     corporate actions of one symbol and interval over a window from the
//     source, refuse an answer with a bad action whole, upsert the bars and
//     record the actions new to the table; an incremental task starts at
//     the last stored bar. When stored bars changed, a collect task
//     enqueues a features task for its series; when a series of its symbol
//     has an action not applied yet, a restate task for that series.
//   - restate.go: restate tasks (KindRestate) apply those actions to one
//     series' stored bars, in a transaction of its own, exactly once, and
//     enqueue its features from the first restated bar.
//   - features.go: features tasks (KindFeatures) recompute the features of
//     one series from the first changed bar on, from its whole stored
//     history, each in a transaction of its own after the batch's.
//
// A handler implements the phases of the batch pipeline (runner.Handler:
// Prepare, Fetch, Write, FollowUps) and nothing else: the runner pulls,
// locks each series fleet-wide, opens the batch's one transaction, catches
// panics, and acknowledges, retries or dead-letters each task by the class
// its error carries (package outcome). Adding a kind is one new file here,
// one line in Register, and its tests.
package kinds
