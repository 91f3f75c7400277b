package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"marketfleet/store"
	"marketfleet/tasks"
)

// DefaultGrace is how long a repaired gap may still be found before it
// counts as persisting.
const DefaultGrace = time.Hour

// Report is what one audit found.
type Report struct {
	// At is when it ran and Took how long.
	At   time.Time     `json:"at"`
	Took time.Duration `json:"took_ns"`
	// Scope is the filters it ran with ("" for the whole history).
	Scope string `json:"scope"`
	// Totals sums the series.
	Totals Totals `json:"totals"`
	// Series lists every series audited, by symbol and interval.
	Series []store.SeriesAudit `json:"series"`
}

// Totals sums a report's series.
type Totals struct {
	// Series counts the series audited; Unaudited those that could not be
	// (store.SeriesAudit.Unaudited says why).
	Series      int   `json:"series"`
	Unaudited   int   `json:"unaudited"`
	Expected    int64 `json:"expected"`
	Present     int64 `json:"present"`
	Stored      int64 `json:"stored"`
	Missing     int64 `json:"missing"`
	Holes       int64 `json:"known_holes"`
	Provisional int64 `json:"provisional"`
	Gaps        int   `json:"gaps"`
	// Persisting counts the gaps still found more than the grace period
	// after their repair was asked for (set by Record).
	Persisting int `json:"persisting"`
}

// Scope describes q's filters as the audits table records them.
func Scope(q store.AuditQuery) string {
	var parts []string
	if q.Symbol != "" {
		parts = append(parts, "symbol="+q.Symbol)
	}
	if q.Interval != "" {
		parts = append(parts, "interval="+string(q.Interval))
	}
	if !q.From.IsZero() {
		parts = append(parts, "from="+q.From.UTC().Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		parts = append(parts, "to="+q.To.UTC().Format(time.DateOnly))
	}
	return strings.Join(parts, " ")
}

// Run audits the series q selects (store.Audit) and sums them. It records
// nothing: see Record.
func Run(ctx context.Context, db *store.Store, exp store.Expectation, q store.AuditQuery) (Report, error) {
	start := time.Now()
	series, err := db.Audit(ctx, exp, q)
	if err != nil {
		return Report{}, err
	}
	return Report{At: start.UTC(), Took: time.Since(start), Scope: Scope(q), Series: series, Totals: Sum(series)}, nil
}

// Sum adds the series up (Persisting is Record's to set).
func Sum(series []store.SeriesAudit) Totals {
	var t Totals
	for _, s := range series {
		if s.Unaudited != "" {
			t.Unaudited++
			continue
		}
		t.Series++
		t.Expected += s.Expected
		t.Present += s.Present
		t.Stored += s.Stored
		t.Missing += s.Missing
		t.Holes += s.Holes
		t.Provisional += s.Provisional
		t.Gaps += len(s.Gaps)
	}
	return t
}

// Gaps returns every gap of r with its series.
func (r Report) Gaps() []store.SeriesGap {
	var out []store.SeriesGap
	for _, s := range r.Series {
		for _, g := range s.Gaps {
			out = append(out, store.SeriesGap{Series: s.Series, Gap: g})
		}
	}
	return out
}

// Record stores the run in the audits table and keeps the repairs ledger:
// repairTasks is how many repair tasks were published for it (0: none, and
// the ledger is only pruned). It sets r.Totals.Persisting.
func Record(ctx context.Context, db *store.Store, r *Report, by string, repairTasks int, grace time.Duration) error {
	var audited []store.AuditedRange
	for _, s := range r.Series {
		if s.Unaudited == "" {
			audited = append(audited, store.AuditedRange{Series: s.Series, First: s.First, Last: s.Last})
		}
	}
	persisting, err := db.RecordAudit(ctx, store.AuditRecord{
		At: r.At, By: by, Scope: r.Scope, Series: r.Totals.Series, Expected: r.Totals.Expected,
		Stored: r.Totals.Stored, Missing: r.Totals.Missing, Gaps: r.Totals.Gaps, Holes: r.Totals.Holes,
		RepairTasks: repairTasks, Took: r.Took,
	}, audited, r.Gaps(), repairTasks > 0, grace)
	if err != nil {
		return fmt.Errorf("record the audit: %w", err)
	}
	r.Totals.Persisting = persisting
	return nil
}

// RepairTasks returns the collect tasks that ask the source for exactly the
// gaps of r: one per gap, from the expected bar before it to the end of the
// one after it (store.Gap.Before and After: an answer that holds those and
// lacks the gap's bars is the evidence the worker records known holes
// from), split only where that holds more than tasks.MaxWindowBars bars.
// They are repairs (tasks.Task.Repair) and not incremental.
func RepairTasks(r Report, requestedBy string, at time.Time) ([]tasks.Task, error) {
	var out []tasks.Task
	for _, g := range r.Gaps() {
		from, last := g.First, g.Last
		if !g.Before.IsZero() {
			from = g.Before
		}
		if !g.After.IsZero() {
			last = g.After
		}
		windows, err := tasks.SplitWindow(g.Interval, from, g.Interval.Next(last), tasks.MaxWindowBars)
		if err != nil {
			return nil, fmt.Errorf("repair %s %s..%s: %w", g.Series, g.First.Format(time.RFC3339), g.Last.Format(time.RFC3339), err)
		}
		for _, w := range windows {
			t := tasks.NewCollect(g.Symbol, g.Interval, w.From, w.To, requestedBy, at)
			t.Repair = true
			out = append(out, t)
		}
	}
	return out, nil
}
