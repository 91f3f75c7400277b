// Package audit checks that the stored history is complete and asks for
// what is missing: Run compares every series with what package history
// says it should hold (store.Audit does it in set-based SQL through the
// caller's one session) and records the run; RepairTasks turns the gaps
// into collect tasks, one per contiguous gap (split only at the per-task bar
// limit), marked as repairs so that the worker records the bars the source
// cannot give as known holes; WriteHTML draws a report as one
// self-contained page. fleetctl audit and the periodic audit of the worker
// holding slot 0 both run it.
//
// # Persisting gaps
//
// Record keeps a ledger of the gaps a repair was asked for (table
// repairs). A gap an audit finds again more than Grace after its repair was
// asked for is persisting: the repair did not fill it and the source did
// not say it has no data (a task still queued behind a long backlog, or
// dead-lettered). fleetctl status warns about them and the alert
// MarketfleetGapsPersist fires on them.
package audit
