package store_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/store"
)

// asOf stamps bars with the instant their values are adjusted as of.
func asOf(bars []market.Bar, t time.Time) []market.Bar {
	for i := range bars {
		bars[i].AsOf = t
	}
	return bars
}

func split(symbol string, exDate time.Time, num, den float64) market.Action {
	return market.Action{Symbol: symbol, ExDate: exDate, Kind: market.Split, Numerator: num, Denominator: den, Source: "test"}
}

func dividend(symbol string, exDate time.Time, amount float64) market.Action {
	return market.Action{Symbol: symbol, ExDate: exDate, Kind: market.Dividend, Amount: amount, Source: "test"}
}

func record(t *testing.T, s *store.Store, actions ...market.Action) {
	t.Helper()
	err := s.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.RecordActions(context.Background(), actions)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func restate(t *testing.T, s *store.Store, series market.Series) []store.Restatement {
	t.Helper()
	var done []store.Restatement
	err := s.InTx(context.Background(), func(tx *store.Tx) (err error) {
		done, err = tx.Restate(context.Background(), series)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b)) }

// A split divides the prices of the bars before its ex-date that are as of
// an earlier instant by its ratio and multiplies their volume; bars as of
// the ex-date or later (fetched already adjusted) and bars from the ex-date
// on are left alone. A second Restate, and Unrestated, find nothing to do.
func TestRestateSplitAppliesOnceToTheBarsItAdjusts(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	walk := testenv.Walk("SPL", 20) // 2020-01-01 .. 2020-01-20
	ex := walk[10].TS
	old := asOf(append([]market.Bar(nil), walk[:8]...), ex.Add(-time.Hour))
	fresh := asOf(append([]market.Bar(nil), walk[8:]...), ex.Add(time.Hour)) // fetched after the split
	if _, err := s.WriteBars(ctx, append(old, fresh...)); err != nil {
		t.Fatal(err)
	}
	series := market.Series{Symbol: "SPL", Interval: market.Interval1d}
	record(t, s, split("SPL", ex, 4, 1))
	var pending []market.Series
	if err := s.InTx(ctx, func(tx *store.Tx) (err error) { pending, err = tx.Unrestated(ctx, []string{"SPL"}); return err }); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0] != series {
		t.Fatalf("Unrestated = %v, want [%s]", pending, series)
	}
	done := restate(t, s, series)
	if len(done) != 1 || done[0].Bars != 8 || !done[0].First.Equal(walk[0].TS) || !done[0].Last.Equal(walk[7].TS) || done[0].Factor != 4 {
		t.Fatalf("Restate = %+v, want one restatement of 8 bars %s..%s with factor 4", done, walk[0].TS, walk[7].TS)
	}
	got := testenv.StoredBars(t, admin, series)
	for i, b := range got {
		w, ratio := walk[i], 1.0
		if i < 8 {
			ratio = 4
		}
		if !near(b.Open, w.Open/ratio) || !near(b.High, w.High/ratio) || !near(b.Low, w.Low/ratio) ||
			!near(b.Close, w.Close/ratio) || !near(*b.AdjClose, *w.AdjClose/ratio) || b.Volume != int64(math.Round(float64(w.Volume)*ratio)) {
			t.Fatalf("bar %d (%s) = %+v, want the walk's divided by %g", i, b.TS.Format(time.DateOnly), b, ratio)
		}
	}
	sum, _ := checksum(t, admin)
	if again := restate(t, s, series); len(again) != 0 {
		t.Fatalf("a second Restate applied %+v, want nothing", again)
	}
	record(t, s, split("SPL", ex, 4, 1)) // the same action reported again
	if again := restate(t, s, series); len(again) != 0 {
		t.Fatalf("Restate after the action came back applied %+v, want nothing", again)
	}
	if after, _ := checksum(t, admin); after != sum {
		t.Fatal("the bars changed after the action was applied: applied twice")
	}
	if err := s.InTx(ctx, func(tx *store.Tx) (err error) { pending, err = tx.Unrestated(ctx, []string{"SPL"}); return err }); err != nil || len(pending) != 0 {
		t.Fatalf("Unrestated = %v, %v after the restatement, want none", pending, err)
	}
}

// A dividend multiplies the adjusted closes before its ex-date by
// 1 - amount / the close of the last bar before it, read after a split of
// the same restatement has been applied; closes are left alone.
func TestRestateDistributionAfterSplitsOfTheSameRestatement(t *testing.T) {
	s, admin := migrated(t)
	walk := asOf(testenv.Walk("DIV", 20), testenv.WalkStart)
	if _, err := s.WriteBars(context.Background(), walk); err != nil {
		t.Fatal(err)
	}
	divEx, splitEx := walk[15].TS, walk[19].TS
	// The dividend is reported in post-split units: it must be set against
	// the close before its ex-date once the later split is applied to it.
	amount := 0.01 * walk[14].Close / 2
	record(t, s, dividend("DIV", divEx, amount), split("DIV", splitEx, 2, 1))
	series := market.Series{Symbol: "DIV", Interval: market.Interval1d}
	done := restate(t, s, series)
	if len(done) != 2 || done[0].Action.Kind != market.Split || done[1].Action.Kind != market.Dividend {
		t.Fatalf("Restate = %+v, want the split, then the dividend", done)
	}
	wantFactor := 0.99
	if !near(done[1].Factor, wantFactor) || done[1].Bars != 15 {
		t.Fatalf("dividend factor %v over %d bars, want %v over 15", done[1].Factor, done[1].Bars, wantFactor)
	}
	for i, b := range testenv.StoredBars(t, admin, series) {
		ratio, factor := 1.0, 1.0
		if i < 19 {
			ratio = 2
		}
		if i < 15 {
			factor = wantFactor
		}
		if !near(b.Close, walk[i].Close/ratio) || !near(*b.AdjClose, *walk[i].AdjClose/ratio*factor) {
			t.Fatalf("bar %d: close %v adj %v, want %v and %v", i, b.Close, *b.AdjClose, walk[i].Close/ratio, *walk[i].AdjClose/ratio*factor)
		}
	}
}

// A distribution not below the close it is paid from is not applied: the
// restatement is recorded as refused, with the reason, the bars are left
// as they were, and a split of the same restatement is still applied.
func TestRestateRefusesADistributionAboveTheClose(t *testing.T) {
	s, admin := migrated(t)
	walk := asOf(testenv.Walk("BAD", 10), testenv.WalkStart)
	if _, err := s.WriteBars(context.Background(), walk); err != nil {
		t.Fatal(err)
	}
	record(t, s, dividend("BAD", walk[5].TS, walk[4].Close*1.5), split("BAD", walk[8].TS, 2, 1))
	done := restate(t, s, market.Series{Symbol: "BAD", Interval: market.Interval1d})
	if len(done) != 2 || done[0].Bars != 8 || done[1].Action.Kind != market.Dividend || done[1].Bars != 0 ||
		!strings.Contains(done[1].Refused, "not below the close before its ex-date") {
		t.Fatalf("Restate = %+v, want the split applied to 8 bars and the dividend refused", done)
	}
	for i, b := range testenv.StoredBars(t, admin, market.Series{Symbol: "BAD", Interval: market.Interval1d}) {
		ratio := 1.0
		if i < 8 {
			ratio = 2
		}
		if !near(*b.AdjClose, *walk[i].AdjClose/ratio) {
			t.Fatalf("bar %d adjusted close %v, want %v: the refused dividend changed it", i, *b.AdjClose, *walk[i].AdjClose/ratio)
		}
	}
	var refused string
	if err := admin.QueryRow(context.Background(), `SELECT refused FROM restatements r JOIN corporate_actions a ON a.id = r.action_id
		WHERE a.kind = 'dividend'`).Scan(&refused); err != nil || refused != done[1].Refused {
		t.Fatalf("ledger says refused %q (%v), want %q", refused, err, done[1].Refused)
	}
}

// An action takes effect at the start of its ex-date in the exchange's time
// zone: for Tokyo, 15:00 UTC the day before. An answer as of after that is
// adjusted (its bars are not restated) even though it is before 00:00 UTC
// of the ex-date; an hourly bar of the ex-date's session, which starts
// before 00:00 UTC, is not restated either.
func TestRestateFollowsTheExchangesTimeZone(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	ex := time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	effective := ex.Add(-9 * time.Hour) // 2024-06-03 00:00 JST
	daily := testenv.Walk("7203.T", 10) // 2020-01-01 .. 2020-01-10: all before the ex-date
	for i := range daily {
		daily[i].AsOf = effective.Add(-time.Hour) // fetched before the split took effect
		if i >= 5 {
			daily[i].AsOf = effective.Add(time.Hour) // fetched at 01:00 JST on the ex-date: adjusted
		}
	}
	hourly := make([]market.Bar, 4) // 13:00 .. 16:00 UTC on June 2: 22:00 .. 01:00 JST
	for i := range hourly {
		hourly[i] = daily[0]
		hourly[i].Interval, hourly[i].TS, hourly[i].AsOf = market.Interval60m, ex.Add(time.Duration(i-11)*time.Hour), effective.Add(-time.Minute)
	}
	if _, err := s.WriteBars(ctx, append(daily, hourly...)); err != nil {
		t.Fatal(err)
	}
	a := split("7203.T", ex, 2, 1)
	a.EffectiveAt = effective
	record(t, s, a)
	if done := restate(t, s, market.Series{Symbol: "7203.T", Interval: market.Interval1d}); len(done) != 1 || done[0].Bars != 5 {
		t.Fatalf("daily: %+v, want the 5 bars fetched before 00:00 JST restated", done)
	}
	done := restate(t, s, market.Series{Symbol: "7203.T", Interval: market.Interval60m})
	if len(done) != 1 || done[0].Bars != 2 || !done[0].Last.Equal(effective.Add(-time.Hour)) {
		t.Fatalf("hourly: %+v, want the 2 bars before 00:00 JST restated (the last at 14:00 UTC)", done)
	}
}

// Bars stored before migration 4 have no as_of: their updated_at stands in
// for it, and is kept as their as_of when they are restated, so a second
// action of the same restatement still applies to them.
func TestRestateLegacyBarsUseUpdatedAt(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	walk := testenv.Walk("LEG", 10)
	if _, err := s.WriteBars(ctx, walk); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `UPDATE bars SET as_of = NULL, updated_at = now() - interval '10 days'`); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	record(t, s, split("LEG", day, 2, 1), split("LEG", day.AddDate(0, 0, 1), 3, 1))
	done := restate(t, s, market.Series{Symbol: "LEG", Interval: market.Interval1d})
	if len(done) != 2 || done[0].Bars != 10 || done[1].Bars != 10 {
		t.Fatalf("Restate = %+v, want both splits applied to the 10 legacy bars", done)
	}
	got := testenv.StoredBars(t, admin, market.Series{Symbol: "LEG", Interval: market.Interval1d})
	if !near(got[0].Close, walk[0].Close/6) {
		t.Fatalf("close %v, want %v (divided by 2 and by 3)", got[0].Close, walk[0].Close/6)
	}
}

// Two sessions restating the same series at once apply each action once:
// the second waits for the first's claim and then skips it. This holds
// without the runner's series lock.
func TestConcurrentRestatesApplyOnce(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	s1, s2 := open(t, dbURL, app), open(t, dbURL, app)
	if _, err := s1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := testenv.Connect(t, dbURL)
	walk := asOf(testenv.Walk("TWO", 30), testenv.WalkStart)
	if _, err := s1.WriteBars(context.Background(), walk); err != nil {
		t.Fatal(err)
	}
	record(t, s1, split("TWO", walk[29].TS, 5, 1))
	series := market.Series{Symbol: "TWO", Interval: market.Interval1d}
	claimed, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var first, second []store.Restatement
	var err1, err2 error
	wg.Go(func() {
		err1 = s1.InTx(context.Background(), func(tx *store.Tx) (err error) {
			first, err = tx.Restate(context.Background(), series)
			close(claimed) // claimed and applied, not committed
			<-release
			return err
		})
	})
	<-claimed
	wg.Go(func() {
		err2 = s2.InTx(context.Background(), func(tx *store.Tx) (err error) {
			second, err = tx.Restate(context.Background(), series)
			return err
		})
	})
	testenv.Eventually(t, 10*time.Second, "the second restate to wait for the first one's claim", func() bool {
		var waiting bool
		_ = admin.QueryRow(context.Background(), `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO restatements%'`).Scan(&waiting)
		return waiting
	})
	close(release)
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(first) != 1 || len(second) != 0 {
		t.Fatalf("first applied %d, second %d: want 1 and 0", len(first), len(second))
	}
	if got := testenv.StoredBars(t, admin, series); !near(got[0].Close, walk[0].Close/5) {
		t.Fatalf("close %v, want %v: the split applied once", got[0].Close, walk[0].Close/5)
	}
}

// Bars written after their series was restated for an action, from an
// answer as of before the action took effect (a write replayed on a new
// session after another worker restated the series), are brought to the
// action's units as they are written; bars of a later answer are not.
func TestWriteBarsReappliesWhatTheSeriesWasRestatedFor(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	walk := testenv.Walk("LATE", 10)
	ex := walk[9].TS.AddDate(0, 0, 1)
	if _, err := s.WriteBars(ctx, asOf(append([]market.Bar(nil), walk[:5]...), ex.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	record(t, s, split("LATE", ex, 4, 1))
	series := market.Series{Symbol: "LATE", Interval: market.Interval1d}
	if done := restate(t, s, series); len(done) != 1 || done[0].Bars != 5 {
		t.Fatalf("Restate = %+v, want 5 bars", done)
	}
	stale := asOf(append([]market.Bar(nil), walk[3:8]...), ex.Add(-30*time.Minute)) // fetched before the split
	fresh := asOf(append([]market.Bar(nil), walk[8:]...), ex.Add(time.Hour))        // fetched after: already adjusted
	for i := range fresh {
		fresh[i].Close /= 4
	}
	if _, err := s.WriteBars(ctx, append(stale, fresh...)); err != nil {
		t.Fatal(err)
	}
	for i, b := range testenv.StoredBars(t, admin, series) {
		if want := walk[i].Close / 4; !near(b.Close, want) {
			t.Fatalf("bar %d close %v, want %v: every bar in the split's units", i, b.Close, want)
		}
	}
}

// A database at migration 4 (actions recorded without effective_at)
// upgrades: migration 5 dates its actions' effect at their ex-date.
func TestMigration5KeepsRecordedActions(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	ctx := context.Background()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE marketfleet_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:4] {
		if _, err := admin.Exec(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, `INSERT INTO marketfleet_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	ex := time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	if _, err := admin.Exec(ctx, `INSERT INTO corporate_actions (symbol, ex_date, kind, numerator, denominator, source)
		VALUES ('OLD4', $1, 'split', 2, 1, 'test')`, ex); err != nil {
		t.Fatal(err)
	}
	s := open(t, dbURL, app)
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) != len(ms)-4 || applied[0] != 5 {
		t.Fatalf("Migrate = %v, %v; want the migrations after 4", applied, err)
	}
	var effective time.Time
	if err := admin.QueryRow(ctx, `SELECT effective_at FROM corporate_actions WHERE symbol = 'OLD4'`).Scan(&effective); err != nil || !effective.Equal(ex) {
		t.Fatalf("effective_at %s (%v), want the ex-date %s", effective, err, ex)
	}
}
