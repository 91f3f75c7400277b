package kinds

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"marketfleet/audit"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
)

// storedBar is a bar's stored values that finality is about.
type storedBar struct {
	volume      int64
	provisional *time.Time
	fetched     *time.Time
}

func (f *actionFleet) storedBar(t *testing.T, s market.Series, ts time.Time) storedBar {
	t.Helper()
	var b storedBar
	if err := f.admin.QueryRow(context.Background(), `SELECT volume, provisional_until, fetched_at FROM bars
		WHERE symbol = $1 AND "interval" = $2 AND ts = $3`, s.Symbol, string(s.Interval), ts).Scan(&b.volume, &b.provisional, &b.fetched); err != nil {
		t.Fatalf("%s %s: %v", s, ts.Format(time.DateOnly), err)
	}
	return b
}

func (f *actionFleet) featureProvisional(t *testing.T, s market.Series, ts time.Time) bool {
	t.Helper()
	var p bool
	if err := f.admin.QueryRow(context.Background(), `SELECT provisional FROM features
		WHERE symbol = $1 AND "interval" = $2 AND ts = $3`, s.Symbol, string(s.Interval), ts).Scan(&p); err != nil {
		t.Fatalf("features %s %s: %v", s, ts.Format(time.DateOnly), err)
	}
	return p
}

// A daily bar collected during its session is stored provisional (until
// the close two sessions later), with the volume traded so far, and so are
// its features; the next day's scheduled run re-collects it (incremental
// tasks start at the first provisional bar) and stores the revised volume;
// a run after the settling period stores it final, equal to what a fresh
// collection stores, and its features final.
func TestProvisionalDailyBarIsReplacedUntilFinal(t *testing.T) {
	f := newFleet(t, synthetic.Config{Live: true}, testenv.History(t))
	s := market.Series{Symbol: "LIVE", Interval: market.Interval1d}
	wed := time.Date(2024, 6, 12, 0, 0, 0, 0, time.UTC) // a Wednesday
	from := wed.AddDate(0, 0, -60)
	// 11:00 in New York, the session in progress.
	f.at(time.Date(2024, 6, 12, 15, 0, 0, 0, time.UTC))
	f.start(t, "w1", runner.Faults{})
	f.publish(t, collectTask(s.Symbol, s.Interval, from, wed.AddDate(0, 0, 1), true))
	f.settle(t)
	final, err := source.Bars(context.Background(), mustSource(t), source.Request{Symbol: s.Symbol, Interval: s.Interval, From: wed, To: wed.AddDate(0, 0, 1)})
	if err != nil || len(final) != 1 {
		t.Fatalf("fresh collection: %v %v", final, err)
	}
	// Final two sessions after Wednesday's: Friday June 14, 16:00 New York.
	friClose := time.Date(2024, 6, 14, 20, 0, 0, 0, time.UTC)
	b := f.storedBar(t, s, wed)
	if b.provisional == nil || !b.provisional.Equal(friClose) || b.volume >= final[0].Volume*7/10 || b.fetched == nil {
		t.Fatalf("during the session: %+v, want provisional until %s with a partial volume (final %d)", b, friClose, final[0].Volume)
	}
	if old := f.storedBar(t, s, wed.AddDate(0, 0, -14)); old.provisional != nil {
		t.Fatalf("a bar of two weeks ago is provisional: %+v", old)
	}
	// Monday's bar is complete, but final only at Wednesday's close.
	mon := wed.AddDate(0, 0, -2)
	wedClose := time.Date(2024, 6, 12, 20, 0, 0, 0, time.UTC)
	if b := f.storedBar(t, s, mon); b.provisional == nil || !b.provisional.Equal(wedClose) {
		t.Fatalf("Monday during Wednesday's session: %+v, want provisional until %s", b, wedClose)
	}
	if !f.featureProvisional(t, s, wed) || f.featureProvisional(t, s, wed.AddDate(0, 0, -14)) {
		t.Fatal("features: want Wednesday's provisional and those of two weeks ago final")
	}

	// Thursday noon: the scheduled run's window is the same as Wednesday's
	// for the lookback; it starts at the first provisional bar.
	f.at(time.Date(2024, 6, 13, 16, 0, 0, 0, time.UTC))
	f.publish(t, collectTask(s.Symbol, s.Interval, wed.AddDate(0, 0, -5), wed.AddDate(0, 0, 2), true))
	f.settle(t)
	b = f.storedBar(t, s, wed)
	if b.provisional == nil || b.volume != final[0].Volume*97/100 {
		t.Fatalf("the next day: %+v, want still provisional with the revised volume %d", b, final[0].Volume*97/100)
	}
	// Monday, two bars before the last stored one, was fetched again
	// (the run started at it), with the same values: now final.
	if b := f.storedBar(t, s, mon); b.provisional != nil {
		t.Fatalf("Monday after Wednesday's close: %+v, want final", b)
	}

	// Friday after the close: final.
	f.at(friClose.Add(time.Minute))
	f.publish(t, collectTask(s.Symbol, s.Interval, wed.AddDate(0, 0, -4), wed.AddDate(0, 0, 3), true))
	f.settle(t)
	b = f.storedBar(t, s, wed)
	if b.provisional != nil || b.volume != final[0].Volume {
		t.Fatalf("after the settling period: %+v, want final with volume %d", b, final[0].Volume)
	}
	if f.featureProvisional(t, s, wed) {
		t.Fatal("Wednesday's features are still provisional")
	}
	if fri := f.storedBar(t, s, wed.AddDate(0, 0, 2)); fri.provisional == nil {
		t.Fatal("Friday's bar, fetched after its close, must settle for two more sessions")
	}
}

// mustSource is a plain synthetic source: what a fresh collection long
// after the fact stores.
func mustSource(t *testing.T) *synthetic.Source {
	t.Helper()
	src, err := synthetic.New(synthetic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// A repair asks the source for exactly the gaps (and the bars around
// them): the days the source has are stored, the day it has no data for
// becomes a known hole after one repair, and the next audit finds nothing
// and asks for nothing. A source that answers a repair with no bars at all
// (an outage that looks like an empty answer) records no hole.
func TestRepairFillsGapsAndRecordsKnownHoles(t *testing.T) {
	lost := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC) // a Friday the source has no data for
	var outage atomic.Bool                               // OUT's answers are empty
	f := newFleet(t, synthetic.Config{NoData: func(symbol string, iv market.Interval, ts time.Time) bool {
		return symbol == "HOLE" && ts.Equal(lost) || symbol == "OUT" && outage.Load()
	}}, testenv.History(t))
	f.at(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	s := market.Series{Symbol: "HOLE", Interval: market.Interval1d}
	from, to := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	f.start(t, "w1", runner.Faults{})
	f.publish(t, collectTask(s.Symbol, s.Interval, from, to, false))
	f.settle(t)
	ctx := context.Background()
	// The test audits through a session of its own, as fleetctl does.
	db, err := store.Open(ctx, f.dbURL, store.Config{ApplicationName: "fleetctl-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	if _, err := f.admin.Exec(ctx, `DELETE FROM bars WHERE symbol = 'HOLE' AND ts BETWEEN '2024-03-05' AND '2024-03-07'`); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Run(ctx, db, f.hist, store.AuditQuery{Symbol: "HOLE"})
	if err != nil {
		t.Fatal(err)
	}
	gaps := r.Gaps()
	if len(gaps) != 2 || !gaps[0].First.Equal(time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)) || gaps[0].Bars != 3 ||
		!gaps[1].First.Equal(lost) || gaps[1].Bars != 1 {
		t.Fatalf("gaps = %+v, want March 5-7 and March 15", gaps)
	}
	repairs, err := audit.RepairTasks(r, "test", time.Now())
	// From the Monday before to the end of the Friday after.
	if err != nil || len(repairs) != 2 || !repairs[0].Repair || !repairs[0].From.Equal(time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)) ||
		!repairs[0].To.Equal(time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("repair tasks = %+v, %v", repairs, err)
	}
	f.publish(t, repairs...)
	f.settle(t)
	var holes []time.Time
	rows, err := f.admin.Query(ctx, `SELECT ts FROM known_holes WHERE symbol = 'HOLE' ORDER BY ts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ts time.Time
		if err := rows.Scan(&ts); err != nil {
			t.Fatal(err)
		}
		holes = append(holes, ts.UTC())
	}
	if len(holes) != 1 || !holes[0].Equal(lost) {
		t.Fatalf("known holes = %v, want only %s", holes, lost.Format(time.DateOnly))
	}
	f.checkFresh(t, s) // what the source has is stored, exactly
	f.mu.Lock()
	var filled, holesSeen int64
	for _, rp := range f.repairs {
		filled, holesSeen = filled+rp.Filled, holesSeen+rp.Holes
	}
	f.mu.Unlock()
	if filled != 3 || holesSeen != 1 {
		t.Fatalf("repairs reported %d filled, %d holes; want 3 and 1", filled, holesSeen)
	}
	again, err := audit.Run(ctx, db, f.hist, store.AuditQuery{Symbol: "HOLE"})
	if err != nil {
		t.Fatal(err)
	}
	more, _ := audit.RepairTasks(again, "test", time.Now())
	if again.Totals.Missing != 0 || again.Totals.Gaps != 0 || again.Totals.Holes != 1 || len(more) != 0 {
		t.Fatalf("second audit: %+v, repairs %d; want nothing missing, 1 known hole, nothing to repair", again.Totals, len(more))
	}

	// An outage answered with no bars: the gap stays open, no hole.
	f.publish(t, collectTask("OUT", s.Interval, from, to, false))
	f.settle(t)
	if _, err := f.admin.Exec(ctx, `DELETE FROM bars WHERE symbol = 'OUT' AND ts = '2024-03-12'`); err != nil {
		t.Fatal(err)
	}
	outage.Store(true)
	r, err = audit.Run(ctx, db, f.hist, store.AuditQuery{Symbol: "OUT"})
	if err != nil {
		t.Fatal(err)
	}
	repairs, err = audit.RepairTasks(r, "test", time.Now())
	if err != nil || len(repairs) != 1 {
		t.Fatalf("OUT repairs = %+v, %v", repairs, err)
	}
	f.publish(t, repairs...)
	f.settle(t)
	var outHoles int
	if err := f.admin.QueryRow(ctx, `SELECT count(*) FROM known_holes WHERE symbol = 'OUT'`).Scan(&outHoles); err != nil || outHoles != 0 {
		t.Fatalf("after an empty answer: %d known holes (%v), want 0", outHoles, err)
	}
	if again, err = audit.Run(ctx, db, f.hist, store.AuditQuery{Symbol: "OUT"}); err != nil || again.Totals.Gaps != 1 {
		t.Fatalf("after an empty answer: %+v (%v), want the gap still open", again.Totals, err)
	}
}
