package main

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"marketfleet/budget"
	"marketfleet/dlq"
	"marketfleet/market"
	"marketfleet/ratelimit"
	"marketfleet/store"
)

// maxReasonLen is the length dead-letter reasons are cut to in a report.
const maxReasonLen = 100

// topReasons is how many dead-letter reasons a report lists.
const topReasons = 3

// fleetApp is the fleet's entry among the applications holding sessions.
const fleetApp = "marketfleet-worker"

// sqlUndefinedTable is SQLSTATE 42P01: the schema predates the table.
const sqlUndefinedTable = "42P01"

// sqlUndefinedColumn is the SQLSTATE of a column an older schema lacks.
const sqlUndefinedColumn = "42703"

// reasonSample is how many of the newest dead letters the commonest
// reasons are counted among: a report reads no more of the stream.
const reasonSample = 200

// deadLettersOf sums up the dead-letter stream: the counts by class from
// its stream info, the commonest reasons among its newest records.
func deadLettersOf(sum dlq.Summary) deadLetterStatus {
	d := deadLetterStatus{Total: int(sum.Total), ByClass: map[string]int{}, TopReasons: []reasonCount{}, ReasonsAmong: len(sum.Recent)}
	for c, n := range sum.ByClass {
		d.ByClass[string(c)] = int(n)
	}
	if sum.MaxBytes > 0 {
		d.UsedPercent = float64(sum.Bytes) * 100 / float64(sum.MaxBytes)
	}
	if !sum.Newest.IsZero() {
		t := sum.Newest.UTC()
		d.Newest = &t
	}
	byReason := map[string]int{}
	for _, r := range sum.Recent {
		byReason[r.Reason]++
	}
	for reason, n := range byReason {
		d.TopReasons = append(d.TopReasons, reasonCount{Reason: reason, Count: n})
	}
	slices.SortFunc(d.TopReasons, func(a, b reasonCount) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Reason, b.Reason))
	})
	d.TopReasons = d.TopReasons[:min(topReasons, len(d.TopReasons))]
	for i := range d.TopReasons {
		d.TopReasons[i].Reason = shorten(d.TopReasons[i].Reason, maxReasonLen)
	}
	return d
}

// postgresOf groups the server's sessions by application, the fleet's
// worker sessions as one, leaving fleetctl's own session out.
func postgresOf(l store.ServerLimits) postgresStatus {
	p := postgresStatus{MaxConnections: l.MaxConnections, SuperuserReserved: l.SuperuserReserved,
		RoleReserved: l.RoleReserved, Apps: []appSessions{}}
	fleet := appSessions{Name: fleetApp}
	for app, n := range l.Sessions {
		if app == l.SelfApp {
			n--
		}
		if n <= 0 {
			continue
		}
		p.Sessions += n
		if strings.HasPrefix(app, budget.DefaultFleetPrefix) {
			fleet.Sessions += n
			fleet.Workers++
			continue
		}
		p.Apps = append(p.Apps, appSessions{Name: app, Sessions: n})
	}
	if fleet.Sessions > 0 {
		p.Apps = append(p.Apps, fleet)
	}
	slices.SortFunc(p.Apps, func(a, b appSessions) int {
		return cmp.Or(b.Sessions-a.Sessions, strings.Compare(a.Name, b.Name))
	})
	if p.MaxConnections > 0 {
		p.UsagePercent = float64(p.Sessions) * 100 / float64(p.MaxConnections)
	}
	return p
}

// failuresOf totals task counts since since. A schema without the
// task_counts table makes the section unavailable, not the report.
func failuresOf(counts map[string]store.TaskCount, since time.Time, err error) (failureStatus, error) {
	f := failureStatus{Since: since.UTC(), ByKind: []kindCount{}}
	if store.SQLState(err) == sqlUndefinedTable {
		f.Unavailable = "no task_counts table yet (migration 3 runs when a worker of this version starts)"
		return f, nil
	}
	if err != nil {
		return f, err
	}
	for _, c := range counts {
		f.OK += c.OK
		f.Retried += c.Retried
		f.DeadLettered += c.DeadLettered
		f.ByKind = append(f.ByKind, kindCount{Kind: c.Kind, OK: c.OK, Retried: c.Retried, DeadLettered: c.DeadLettered})
	}
	slices.SortFunc(f.ByKind, func(a, b kindCount) int { return strings.Compare(a.Kind, b.Kind) })
	if all := f.OK + f.Retried + f.DeadLettered; all > 0 {
		f.FailurePercent = float64(f.Retried+f.DeadLettered) * 100 / float64(all)
	}
	return f, nil
}

// delayedOf converts the delayed tasks' summary; nil before migration 7.
func delayedOf(d store.DelayedSummary, err error) (*delayedStatus, error) {
	if store.SQLState(err) == sqlUndefinedTable {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := &delayedStatus{Waiting: d.Waiting}
	if l := d.Longest; d.Waiting > 0 {
		out.Longest = &delayedTask{Symbol: l.Symbol, Kind: l.Kind, Class: l.Class, Reason: l.Reason, StreamSeq: l.Seq, RetryAt: l.RetryAt.UTC()}
	}
	return out, nil
}

// freshnessOf converts the stalest series. An unmigrated schema makes the
// section unavailable, not the report.
func freshnessOf(stalest []store.SeriesFreshness, err error) (freshnessStatus, error) {
	f := freshnessStatus{Series: []seriesStatus{}}
	if store.SQLState(err) == sqlUndefinedTable {
		f.Unavailable = "no bars table yet (the schema is migrated when a worker starts)"
		return f, nil
	}
	if err != nil {
		return f, err
	}
	for _, s := range stalest {
		f.Series = append(f.Series, seriesStatus{Symbol: s.Symbol, Interval: string(s.Interval), LastBar: s.LastBar, LastWrite: s.LastWrite})
	}
	return f, nil
}

// restatementsOf converts the last day's restatement counts. A schema
// without the table makes the section unavailable, not the report.
func restatementsOf(counts []store.RestatementCount, pending []market.Series, since time.Time, err error) (restatementStatus, error) {
	r := restatementStatus{Since: since.UTC(), ByKind: []restatementCount{}, Pending: len(pending)}
	if store.SQLState(err) == sqlUndefinedTable {
		r.Unavailable = "no restatements table yet (migration 4 runs when a worker of this version starts)"
		return r, nil
	}
	if err != nil {
		return r, err
	}
	for _, c := range counts {
		r.ByKind = append(r.ByKind, restatementCount{Kind: string(c.Kind), Series: c.Series, Refused: c.Refused, Symbols: c.Symbols, Bars: c.Bars})
	}
	return r, nil
}

// historyOf converts the finality counts and the last audit. A schema
// without the tables makes the section unavailable, not the report.
func historyOf(f store.Finality, last store.AuditRecord, ran bool, err error) (historyStatus, error) {
	var h historyStatus
	if store.SQLState(err) == sqlUndefinedTable || store.SQLState(err) == sqlUndefinedColumn {
		h.Unavailable = "no provisional_until column yet (migration 6 runs when a worker of this version starts)"
		return h, nil
	}
	if err != nil {
		return h, err
	}
	h.Provisional, h.Due, h.KnownHoles = f.Provisional, f.Due, f.Holes
	if !f.OldestDue.IsZero() {
		h.OldestDue = &f.OldestDue
	}
	if ran {
		h.LastAudit = &last
	}
	return h, nil
}

// sourceOf is one fleet-wide source limit as status shows it.
func sourceOf(rd ratelimit.Reading) sourceStatus {
	s := sourceStatus{Key: rd.Key, Configured: rd.Configured, Current: rd.Rate, Reason: rd.Reason, Openings: rd.Opens}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	s.CutAt, s.FailingSince, s.PausedUntil = at(rd.Since), at(rd.Failing), at(rd.Open)
	return s
}
