package kinds

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/features"
	"marketfleet/history"
	"marketfleet/internal/backoff"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
	"marketfleet/tasks"
)

// actionFleet runs the kinds of this package on real PostgreSQL and
// JetStream, against a synthetic source that answers as of a clock the
// test moves.
type actionFleet struct {
	nats  *testenv.NATSServer
	js    jetstream.JetStream
	dbURL string
	admin *pgx.Conn
	now   atomic.Pointer[time.Time]
	src   *synthetic.Source
	hist  *history.Policy // nil: every bar is stored final

	mu       sync.Mutex
	restated []store.Restatement // as reported to Config.Restated
	repairs  []Repair            // as reported to Config.Repaired
}

func newActionFleet(t *testing.T, actions ...market.Action) *actionFleet {
	t.Helper()
	return newFleet(t, synthetic.Config{Actions: actions}, nil)
}

// newFleet is a fleet whose source is cfg, answering as of the fleet's
// clock, and whose collect tasks mark bars final as hist says.
func newFleet(t *testing.T, cfg synthetic.Config, hist *history.Policy) *actionFleet {
	t.Helper()
	f := &actionFleet{nats: testenv.NATS(t), dbURL: testenv.NewDatabase(t), hist: hist}
	_, f.js = f.nats.Connect(t)
	ctx := context.Background()
	if _, _, err := queue.EnsureStream(ctx, f.js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureConsumer(ctx, f.js, queue.DefaultStream, queue.ConsumerConfig{AckWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dlq.EnsureStream(ctx, f.js, dlq.Config{}); err != nil {
		t.Fatal(err)
	}
	f.admin = testenv.Connect(t, f.dbURL)
	cfg.Now = func() time.Time { return *f.now.Load() }
	src, err := synthetic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.src = src
	return f
}

// at moves the source's clock.
func (f *actionFleet) at(t time.Time) { f.now.Store(&t) }

// worker is one runner with a session and a NATS connection of its own.
type worker struct {
	nc   *nats.Conn
	db   *store.Store
	stop func() error
}

// start runs a worker until the test ends or its stop is called.
func (f *actionFleet) start(t *testing.T, name string, faults runner.Faults) *worker {
	t.Helper()
	ctx := context.Background()
	nc, js := f.nats.Connect(t)
	db, err := store.Open(ctx, f.dbURL, store.Config{ApplicationName: "marketfleet-worker/" + name,
		ConnectBackoff: backoff.Policy{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	fetcher, err := queue.NewFetcher(cons, nil, queue.FetcherConfig{Size: 10, MaxWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := Register(Config{Source: f.src, History: f.hist, Features: true, RequestedBy: "worker/" + name,
		Restated: func(r store.Restatement) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.restated = append(f.restated, r)
		},
		Repaired: func(r Repair) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.repairs = append(f.repairs, r)
		}})
	r, err := runner.New(fetcher, db, dlq.NewWriter(js, dlq.WriterConfig{}), runner.Config{
		Kinds: reg, FollowUps: queue.NewPublisher(js, ""), Confirm: js.Conn().FlushWithContext, WorkerID: name, Faults: faults,
		Tuning: runner.Tuning{Retry: backoff.Policy{Base: 50 * time.Millisecond, Max: 200 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{nc: nc, db: db}
	w.stop = testenv.Background(t, "Run "+name, r.Run)
	return w
}

func (f *actionFleet) publish(t *testing.T, ts ...tasks.Task) {
	t.Helper()
	if _, err := queue.NewPublisher(f.js, "").Publish(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

// settle waits until every task, follow-ups included, is acknowledged.
func (f *actionFleet) settle(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, "the task stream to empty", func() bool {
		s, err := f.js.Stream(context.Background(), queue.DefaultStream)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}

func collectTask(symbol string, iv market.Interval, from, to time.Time, incremental bool) tasks.Task {
	t := tasks.NewCollect(symbol, iv, from, to, "test", time.Now())
	t.Incremental = incremental
	return t
}

func close9(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// checkFresh compares every stored bar of s with what one fresh full
// collection of the stored span stores now (relative 1e-9, volumes
// exactly), and returns the fresh bars.
func (f *actionFleet) checkFresh(t *testing.T, s market.Series) []market.Bar {
	t.Helper()
	got := testenv.StoredBars(t, f.admin, s)
	if len(got) == 0 {
		t.Fatalf("%s: no bars stored", s)
	}
	want, err := source.Bars(context.Background(), f.src, source.Request{Symbol: s.Symbol, Interval: s.Interval,
		From: got[0].TS, To: s.Interval.Next(got[len(got)-1].TS)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d bars stored, a fresh collection has %d", s, len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if !g.TS.Equal(w.TS) || !close9(g.Open, w.Open) || !close9(g.High, w.High) || !close9(g.Low, w.Low) ||
			!close9(g.Close, w.Close) || !close9(*g.AdjClose, *w.AdjClose) || g.Volume != w.Volume {
			t.Fatalf("%s bar %s = %v %v %v %v adj %v vol %d; a fresh collection stores %v %v %v %v adj %v vol %d",
				s, g.TS.Format(time.RFC3339), g.Open, g.High, g.Low, g.Close, *g.AdjClose, g.Volume,
				w.Open, w.High, w.Low, w.Close, *w.AdjClose, w.Volume)
		}
	}
	return want
}

// checkFeatures compares the stored features of s with those computed from
// the fresh bars (relative 1e-9).
func (f *actionFleet) checkFeatures(t *testing.T, s market.Series, fresh []market.Bar) []features.Row {
	t.Helper()
	var got []features.Row
	for _, r := range testenv.FeatureRows(t, f.admin, s.Symbol) {
		if r.Interval == s.Interval {
			got = append(got, r)
		}
	}
	want := testenv.Compute(t, fresh)
	if len(got) != len(want) {
		t.Fatalf("%s: %d feature rows, want %d", s, len(got), len(want))
	}
	for i := range got {
		g, w := featureRowValues(got[i]), featureRowValues(want[i])
		for j := range g {
			if (g[j] == nil) != (w[j] == nil) || (g[j] != nil && !close9(*g[j], *w[j])) {
				t.Fatalf("%s features %s, value %d: %s, want %s", s, got[i].TS.Format(time.DateOnly), j, show(g[j]), show(w[j]))
			}
		}
	}
	return got
}

func show(v *float64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

func featureRowValues(r features.Row) []*float64 {
	return []*float64{r.Return, r.LogReturn, r.SMA5, r.SMA20, r.SMA50, r.EMA5, r.EMA20, r.EMA50, r.RSI14, r.Vol20, r.VolumeZ20}
}

// checkRestated checks every series of symbol against a fresh collection
// (checkFresh) and that each has had the action applied once, and returns
// the fresh daily bars.
func (f *actionFleet) checkRestated(t *testing.T, symbol string) []market.Bar {
	t.Helper()
	var daily []market.Bar
	for _, s := range allSeries(symbol) {
		fresh := f.checkFresh(t, s)
		if s.Interval == market.Interval1d {
			daily = fresh
		}
	}
	if n, bars := f.restatements(t); n != 3 || bars == 0 {
		t.Fatalf("%d restatements of %d bars, want one per series (3)", n, bars)
	}
	return daily
}

// restatements counts the ledger's rows, and the bars they changed.
func (f *actionFleet) restatements(t *testing.T) (rows, bars int64) {
	t.Helper()
	if err := f.admin.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(bars_changed), 0) FROM restatements`).Scan(&rows, &bars); err != nil {
		t.Fatal(err)
	}
	return rows, bars
}

var (
	splitEx = time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	before  = splitEx.AddDate(0, 0, -2).Add(12 * time.Hour) // 2024-06-01 12:00
	after   = splitEx.AddDate(0, 0, 3).Add(12 * time.Hour)  // 2024-06-06 12:00
	histAt  = time.Date(2022, 1, 3, 0, 0, 0, 0, time.UTC)
)

// collectBefore stores, as of before the action, three series of symbol:
// two and a half years of daily and weekly bars, and twelve days of hourly
// bars.
func (f *actionFleet) collectBefore(t *testing.T, symbol string) {
	t.Helper()
	f.at(before)
	f.publish(t,
		collectTask(symbol, market.Interval1d, histAt, before.Truncate(24*time.Hour), false),
		collectTask(symbol, market.Interval1wk, histAt, before.Truncate(24*time.Hour), false),
		collectTask(symbol, market.Interval60m, before.AddDate(0, 0, -12).Truncate(24*time.Hour), before.Truncate(time.Hour), false))
}

// reveal moves the clock past the action and runs the next incremental
// daily collection of symbol, whose answer carries it, until the fleet
// settles.
func (f *actionFleet) reveal(t *testing.T, symbol string) {
	t.Helper()
	f.at(after)
	f.publish(t, collectTask(symbol, market.Interval1d, histAt, after.Truncate(24*time.Hour), true))
	f.settle(t)
}

func allSeries(symbol string) []market.Series {
	return []market.Series{{Symbol: symbol, Interval: market.Interval1d}, {Symbol: symbol, Interval: market.Interval1wk},
		{Symbol: symbol, Interval: market.Interval60m}}
}

// A 5:1 split revealed by the next incremental daily collection restates
// every stored series of the symbol: afterwards each equals what one fresh
// full collection stores, and the daily features equal those computed from
// it, so the split date's return is the true one, not -80%. Seeing the
// action again, in a later answer and in an extra restate task, changes
// nothing.
func TestSplitRestatesEverySeries(t *testing.T) {
	f := newActionFleet(t, market.Action{Symbol: "SPLT", ExDate: splitEx, Kind: market.Split, Numerator: 5, Denominator: 1})
	f.start(t, "w1", runner.Faults{})
	f.collectBefore(t, "SPLT")
	f.settle(t)
	f.reveal(t, "SPLT")

	daily := f.checkRestated(t, "SPLT")
	rows := f.checkFeatures(t, allSeries("SPLT")[0], daily)
	for i, r := range rows {
		if r.TS.Equal(splitEx) {
			want := *daily[i].AdjClose / *daily[i-1].AdjClose - 1
			if r.Return == nil || !close9(*r.Return, want) || *r.Return < -0.5 {
				t.Fatalf("return on the split date %v, want the true %v", r.Return, want)
			}
		}
	}

	// The same action again: in a later answer, and in a restate task with
	// a message id of its own.
	f.publish(t, collectTask("SPLT", market.Interval1d, splitEx.AddDate(0, 0, -5), after.Truncate(24*time.Hour), false),
		NewRestateTask(allSeries("SPLT")[0], splitEx.AddDate(0, 0, -1), "test", time.Now()))
	f.settle(t)
	f.checkRestated(t, "SPLT")
}

// A dividend scales the adjusted closes before its ex-date by the source's
// factor; the stored series then equals a fresh collection, and so do the
// features.
func TestDividendRestatesAdjustedCloses(t *testing.T) {
	raw, err := source.Bars(context.Background(), &synthetic.Source{}, source.Request{Symbol: "DIVI", Interval: market.Interval1d,
		From: splitEx.AddDate(0, 0, -1), To: splitEx})
	if err != nil {
		t.Fatal(err)
	}
	amount := raw[0].Close * 0.03
	f := newActionFleet(t, market.Action{Symbol: "DIVI", ExDate: splitEx, Kind: market.Dividend, Amount: amount})
	f.start(t, "w1", runner.Faults{})
	f.collectBefore(t, "DIVI")
	f.settle(t)
	f.reveal(t, "DIVI")
	daily := f.checkFresh(t, allSeries("DIVI")[0])
	for _, s := range allSeries("DIVI")[1:] {
		f.checkFresh(t, s)
	}
	f.checkFeatures(t, allSeries("DIVI")[0], daily)
	stored := testenv.StoredBars(t, f.admin, allSeries("DIVI")[0])
	if first := stored[0]; close9(*first.AdjClose, first.Close) {
		t.Fatalf("first bar's adjusted close %v equals its close: the dividend was not applied", *first.AdjClose)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.restated) != 3 {
		t.Fatalf("reported restatements %+v, want three", f.restated)
	}
	for _, r := range f.restated { // the factor is the answer's: 1 - amount / the close before
		if r.Action.Kind != market.Dividend || !close9(r.Factor, 0.97) || r.Bars == 0 {
			t.Fatalf("reported restatement %+v, want the dividend with factor 0.97", r)
		}
	}
}

// Two workers at once, each seeing the split (in its own answer, of its own
// series) and each with restate tasks of every series to run: each action
// is applied to each series once.
func TestSplitSeenByTwoWorkersAppliesOnce(t *testing.T) {
	f := newActionFleet(t, market.Action{Symbol: "TWIN", ExDate: splitEx, Kind: market.Split, Numerator: 5, Denominator: 1})
	f.start(t, "w1", runner.Faults{})
	f.start(t, "w2", runner.Faults{})
	f.collectBefore(t, "TWIN")
	f.settle(t)
	f.at(after)
	var ts []tasks.Task
	for i, s := range allSeries("TWIN") {
		ts = append(ts, collectTask("TWIN", s.Interval, histAt, after.Truncate(time.Hour), true))
		for _, s2 := range allSeries("TWIN") { // extra restate tasks with ids of their own
			ts = append(ts, NewRestateTask(s2, splitEx.AddDate(0, 0, -1-i), "test", time.Now()))
		}
	}
	f.publish(t, ts...)
	f.settle(t)
	f.checkRestated(t, "TWIN")
}

// A worker killed between a commit and its acknowledgement (its session
// terminated, its NATS connection closed) leaves its task to be redelivered
// to another: after the collect that recorded the split, the restate tasks
// are still enqueued; after a restate, it is not applied again, and the
// features still follow.
func TestKilledBetweenCommitAndAckAppliesOnce(t *testing.T) {
	for _, c := range []struct {
		name string
		// kill reports whether the commit just made is the one to die after.
		kill func(t *testing.T, admin *pgx.Conn) bool
	}{
		{"after the collect", func(*testing.T, *pgx.Conn) bool { return true }},
		{"after a restate", func(t *testing.T, admin *pgx.Conn) bool {
			var n int
			if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM restatements`).Scan(&n); err != nil {
				t.Error(err)
			}
			return n > 0
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newActionFleet(t, market.Action{Symbol: "KILL", ExDate: splitEx, Kind: market.Split, Numerator: 5, Denominator: 1})
			w := f.start(t, "w1", runner.Faults{})
			f.collectBefore(t, "KILL")
			f.settle(t)
			if err := w.stop(); err != nil {
				t.Fatal(err)
			}
			f.at(after)
			dead, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			var victim *worker
			kill := func(context.Context) {
				if !c.kill(t, f.admin) {
					return
				}
				once.Do(func() {
					victim.nc.Close() // no acknowledgement, no InProgress: redelivered after AckWait
					if _, err := f.admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, victim.db.BackendPID()); err != nil {
						t.Error(err)
					}
					close(dead)
					<-release
				})
			}
			victim = f.start(t, "victim", runner.Faults{AfterCommit: kill})
			f.publish(t, collectTask("KILL", market.Interval1d, histAt, after.Truncate(24*time.Hour), true))
			<-dead
			f.start(t, "w2", runner.Faults{})
			f.settle(t)
			close(release)
			_ = victim.stop() // it finds its connections gone: any error is expected
			f.checkFeatures(t, allSeries("KILL")[0], f.checkRestated(t, "KILL"))
		})
	}
}

// answer is a source that gives one answer to every request.
type answer struct{ resp source.Response }

func (answer) Name() string { return "stub" }

func (a answer) Fetch(context.Context, source.Request) (source.Response, error) { return a.resp, nil }

// An answer with a bad action is refused whole with outcome.BadData: nothing
// of it reaches the write, and the reason names the action and what is
// wrong with it. An action about to take effect is left out of a good one.
func TestCollectRefusesBadActions(t *testing.T) {
	asOf := after
	bars, err := source.Bars(context.Background(), &synthetic.Source{}, source.Request{Symbol: "BADA", Interval: market.Interval1d,
		From: splitEx.AddDate(0, 0, -3), To: splitEx.AddDate(0, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	closeBefore := bars[2].Close
	act := func(kind market.ActionKind, ex time.Time, num, den, amount float64) market.Action {
		return market.Action{Symbol: "BADA", ExDate: ex, Kind: kind, Numerator: num, Denominator: den, Amount: amount, Source: "stub"}
	}
	soon := act(market.Split, asOf.Truncate(24*time.Hour).AddDate(0, 0, 1), 2, 1, 0) // in effect in 12 hours
	j := collectJob("BADA", splitEx.AddDate(0, 0, -3), splitEx.AddDate(0, 0, 3), false)
	j.State.from = j.Task.From
	if err := (Collect{Config{Source: answer{source.Response{Bars: bars, Actions: []market.Action{soon}, AsOf: asOf}}}}).Fetch(context.Background(), j); err != nil || len(j.State.actions) != 0 || len(j.State.bars) != len(bars) {
		t.Fatalf("an action about to take effect: Fetch = %v, %d actions kept, want the bars and no action", err, len(j.State.actions))
	}
	for _, c := range []struct {
		name   string
		action market.Action
		reason string
	}{
		{"a ratio of 0", act(market.Split, splitEx, 0, 1, 0), "split ratio 0:1"},
		{"a zero denominator", act(market.Split, splitEx, 1, 0, 0), "split ratio 1:0"},
		{"an absurd ratio", act(market.Split, splitEx, 1e9, 1, 0), "split ratio 1e+09:1"},
		{"a negative dividend", act(market.Dividend, splitEx, 0, 0, -0.5), "amount -0.5 is not a positive number"},
		{"a NaN dividend", act(market.Dividend, splitEx, 0, 0, math.NaN()), "amount NaN"},
		{"a dividend above the close", act(market.Dividend, splitEx, 0, 0, closeBefore*1.01), "is not below the close"},
		{"a split dated in the future", act(market.Split, asOf.Truncate(24*time.Hour).AddDate(0, 0, 3), 2, 1, 0), "dated in the future"},
		{"an ex-date that is not a date", act(market.Split, splitEx.Add(time.Hour), 2, 1, 0), "not a trading date"},
		{"an unknown kind", act("spinoff", splitEx, 0, 0, 1), `unknown kind "spinoff"`},
		{"in effect at no start of its ex-date", func() market.Action {
			a := act(market.Split, splitEx, 2, 1, 0)
			a.EffectiveAt = splitEx.Add(20 * time.Hour)
			return a
		}(), "not the start of its ex-date in any time zone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			good := act(market.Dividend, splitEx.AddDate(0, 0, -1), 0, 0, 0.01)
			src := answer{source.Response{Bars: bars, Actions: []market.Action{good, c.action}, AsOf: asOf}}
			j := collectJob("BADA", splitEx.AddDate(0, 0, -3), splitEx.AddDate(0, 0, 3), false)
			j.State.from = j.Task.From
			err := Collect{Config{Source: src}}.Fetch(context.Background(), j)
			if outcome.Of(err) != outcome.BadData || !errors.Is(err, market.ErrInvalidAction) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Fetch = %v (class %q), want class bad_data, ErrInvalidAction, %q", err, outcome.Of(err), c.reason)
			}
			if len(j.State.bars) != 0 || len(j.State.actions) != 0 {
				t.Fatalf("%d bars and %d actions kept for the write, want none", len(j.State.bars), len(j.State.actions))
			}
		})
	}
}

// Through the fleet, a refused answer is dead-lettered (class bad_data) with
// the action in the reason, and changes nothing: no bar, no action.
func TestBadActionIsDeadLetteredAndChangesNothing(t *testing.T) {
	f := newActionFleet(t, market.Action{Symbol: "ZERO", ExDate: splitEx, Kind: market.Split, Numerator: 0, Denominator: 1})
	f.start(t, "w1", runner.Faults{})
	f.at(after)
	f.publish(t, collectTask("ZERO", market.Interval1d, histAt, after.Truncate(24*time.Hour), false))
	f.settle(t)
	letters, err := dlq.NewAdmin(f.js, "").List(context.Background(), dlq.Filter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].Class != outcome.BadData || !strings.Contains(letters[0].Reason, "ZERO split 0:1 2024-06-03") {
		t.Fatalf("dead letters %+v, want one of class bad_data naming the split", letters)
	}
	var bars, actions int
	if err := f.admin.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM bars), (SELECT count(*) FROM corporate_actions)`).Scan(&bars, &actions); err != nil {
		t.Fatal(err)
	}
	if bars != 0 || actions != 0 {
		t.Fatalf("%d bars and %d actions stored, want none", bars, actions)
	}
}

// A distribution's factor comes from the answer's last bar that ends by the
// ex-date: for a weekly answer, not the week the ex-date falls in (its close
// is after the ex-date) but the one before.
func TestDistributionFactorFromTheBarBeforeTheExDate(t *testing.T) {
	ex := time.Date(2024, 6, 5, 0, 0, 0, 0, time.UTC) // a Wednesday
	bars, err := source.Bars(context.Background(), &synthetic.Source{}, source.Request{Symbol: "WEEK", Interval: market.Interval1wk,
		From: ex.AddDate(0, 0, -21), To: ex.AddDate(0, 0, 14)})
	if err != nil {
		t.Fatal(err)
	}
	var before market.Bar
	for _, b := range bars {
		if !market.Interval1wk.Next(b.TS).After(ex) {
			before = b
		}
	}
	if before.TS.IsZero() || !market.Interval1wk.Next(before.TS).After(ex.AddDate(0, 0, -7)) {
		t.Fatalf("no weekly bar ending in the week before %s: %v", ex, bars)
	}
	div := market.Action{Symbol: "WEEK", ExDate: ex, Kind: market.Dividend, Amount: 0.5, Source: "stub"}
	got, err := checkActions(source.Response{Bars: bars, Actions: []market.Action{div}, AsOf: ex.AddDate(0, 0, 14)})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if want := 1 - 0.5/before.Close; got[0].Factor != want {
		t.Fatalf("factor %v, want %v (from the week of %s)", got[0].Factor, want, before.TS.Format(time.DateOnly))
	}
}
