package runner_test

import (
	"context"
	"math"
	"testing"
	"time"

	"marketfleet/dlq"
	"marketfleet/internal/backoff"
	"marketfleet/internal/testenv"
	"marketfleet/kinds"
	"marketfleet/leases"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/runner"
	"marketfleet/store"
	"marketfleet/tasks"
)

func (b *bundle) publishTasks(t *testing.T, ts ...tasks.Task) {
	t.Helper()
	if _, err := queue.NewPublisher(b.js, "").Publish(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) lastSeq(t *testing.T) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// A collect task that stores new bars enqueues a features task; the worker
// runs it through the same session; the stored features match references
// computed independently by SQL window functions over the stored bars. A
// collect task that changes nothing enqueues nothing.
func TestCollectEnqueuesFeaturesThatMatchASQLReference(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.features = true
	stop := b.start(t, runner.Config{})
	task := tasks.NewCollect("FEAT", market.Interval1d, day0, day0.AddDate(0, 0, 90), "runner-test", time.Now())
	b.publishTasks(t, task)
	b.waitEmpty(t, 20*time.Second)
	if seq := b.lastSeq(t); seq != 2 {
		t.Fatalf("stream sequence %d after one collect task, want 2 (the collect and its features task)", seq)
	}
	var rows, bars int
	if err := b.admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM features WHERE symbol = 'FEAT'),
		(SELECT count(*) FROM bars WHERE symbol = 'FEAT')`).Scan(&rows, &bars); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != bars {
		t.Fatalf("%d feature rows for %d bars", rows, bars)
	}
	// Independent references: SQL window functions over the stored bars.
	refs, err := b.admin.Query(ctx, `
		WITH p AS (
		    SELECT ts, coalesce(adj_close, close) AS px, volume,
		           row_number() OVER w AS n,
		           ln(coalesce(adj_close, close) / lag(coalesce(adj_close, close)) OVER w) AS lr
		    FROM bars WHERE symbol = 'FEAT' WINDOW w AS (ORDER BY ts))
		SELECT p.ts, p.n,
		       avg(p.px) OVER (ORDER BY p.ts ROWS 4 PRECEDING) AS sma5,
		       avg(p.px) OVER (ORDER BY p.ts ROWS 19 PRECEDING) AS sma20,
		       stddev_samp(p.lr) OVER (ORDER BY p.ts ROWS 19 PRECEDING) AS vol20,
		       f.sma5, f.sma20, f.vol20, f.log_return, p.lr
		FROM p JOIN features f ON f.symbol = 'FEAT' AND f.ts = p.ts ORDER BY p.ts`)
	if err != nil {
		t.Fatal(err)
	}
	defer refs.Close()
	checked := 0
	for refs.Next() {
		var ts time.Time
		var n int
		var sma5, sma20 float64
		var vol20, fSMA5, fSMA20, fVol20, fLR, lr *float64
		if err := refs.Scan(&ts, &n, &sma5, &sma20, &vol20, &fSMA5, &fSMA20, &fVol20, &fLR, &lr); err != nil {
			t.Fatal(err)
		}
		closeTo(t, ts, "sma5", n >= 5, sma5, fSMA5)
		closeTo(t, ts, "sma20", n >= 20, sma20, fSMA20)
		if n >= 21 {
			closeTo(t, ts, "vol20", true, *vol20, fVol20)
		}
		if lr != nil {
			closeTo(t, ts, "log_return", true, *lr, fLR)
		}
		checked++
	}
	if checked != rows {
		t.Fatalf("checked %d rows of %d", checked, rows)
	}

	// The same window again (no message id: not a JetStream duplicate)
	// changes no bar, so no features task follows.
	before := b.lastSeq(t)
	data, err := tasks.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.Publish(ctx, queue.Subject(tasks.KindCollect), data); err != nil {
		t.Fatal(err)
	}
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if seq := b.lastSeq(t); seq != before+1 {
		t.Fatalf("stream sequence %d after a collect that changed nothing, want %d (no follow-up)", seq, before+1)
	}
}

func closeTo(t *testing.T, ts time.Time, name string, defined bool, want float64, got *float64) {
	t.Helper()
	switch {
	case !defined && got != nil:
		t.Errorf("%s %s = %v, want NULL (not enough history)", ts.Format(time.DateOnly), name, *got)
	case defined && got == nil:
		t.Errorf("%s %s is NULL, want %v", ts.Format(time.DateOnly), name, want)
	case defined && math.Abs(*got-want) > 1e-9*math.Max(1, math.Abs(want)):
		t.Errorf("%s %s = %v, want %v", ts.Format(time.DateOnly), name, *got, want)
	}
}

// An incremental task fetches from the last stored bar (one bar of
// overlap), not its whole window; a plain task fetches its whole window.
func TestIncrementalTaskStartsAtTheLastStoredBar(t *testing.T) {
	b := setup(t)
	stop := b.start(t, runner.Config{})
	b.publishTasks(t, tasks.NewCollect("INC", market.Interval1d, day0, day0.AddDate(0, 0, 20), "runner-test", time.Now()))
	b.waitEmpty(t, 20*time.Second)
	inc := tasks.NewCollect("INC", market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", time.Now())
	inc.Incremental = true
	b.publishTasks(t, inc)
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	reqs := b.src.requests("INC")
	if len(reqs) != 2 {
		t.Fatalf("%d fetches, want 2", len(reqs))
	}
	var last time.Time
	if err := b.admin.QueryRow(context.Background(), `SELECT max(ts) FROM bars WHERE symbol = 'INC' AND ts < $1`, day0.AddDate(0, 0, 20)).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if want := last.AddDate(0, 0, -1); !reqs[1].From.Equal(want) || !reqs[1].To.Equal(day0.AddDate(0, 0, 30)) {
		t.Fatalf("incremental fetch %s..%s, want %s (one bar before the last stored %s)..%s",
			reqs[1].From, reqs[1].To, want, last, day0.AddDate(0, 0, 30))
	}
	if !reqs[0].From.Equal(day0) {
		t.Fatalf("plain fetch from %s, want the whole window from %s", reqs[0].From, day0)
	}
	if n := b.barsOf(t, "INC"); n != 30 {
		t.Fatalf("%d bars, want 30", n)
	}
}

// A task whose series another session holds waits (short Naks, no dead
// letter, no fetch) and runs once the series is free.
func TestBusySeriesWaitsForItsLock(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	if _, err := b.admin.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext('BUSY/1d'))`, int32(0x636f6c6c)); err != nil {
		t.Fatal(err)
	}
	stop := b.start(t, runner.Config{})
	b.publish(t, "BUSY", "FREE")
	time.Sleep(2500 * time.Millisecond)
	if n := len(b.src.callTimes("BUSY")); n != 0 {
		t.Fatalf("BUSY fetched %d times while its series was locked by another session", n)
	}
	if n := b.barsOf(t, "FREE"); n != 30 {
		t.Fatalf("FREE has %d bars: a busy task held up its batch", n)
	}
	info, err := b.cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered == 0 && info.NumAckPending == 0 && info.NumPending == 0 {
		t.Fatal("the busy task is neither pending nor being retried")
	}
	if _, err := b.admin.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext('BUSY/1d'))`, int32(0x636f6c6c)); err != nil {
		t.Fatal(err)
	}
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := b.barsOf(t, "BUSY"); n != 30 {
		t.Fatalf("BUSY has %d bars after its series was freed, want 30", n)
	}
	if letters, err := b.dead.List(ctx, dlq.Filter{}, 0); err != nil || len(letters) != 0 {
		t.Fatalf("dead letters %v (%v): a busy task must be retried, not dead-lettered", letters, err)
	}
}

// A features task that waits for its series' lock (held by another session
// here) writes in a transaction of its own: the collect tasks of its batch
// are committed and acknowledged meanwhile, and it is applied once the lock
// is free.
func TestSeparateKindNeitherHoldsUpNorFailsItsBatch(t *testing.T) {
	b := setup(t)
	b.size, b.linger = 10, time.Second // one batch
	ctx := context.Background()
	if _, err := b.admin.Exec(ctx, `SELECT pg_advisory_lock(x'66656174'::int, hashtext('HELD/1d'))`); err != nil {
		t.Fatal(err)
	}
	held := true
	defer func() {
		if held {
			_, _ = b.admin.Exec(ctx, `SELECT pg_advisory_unlock(x'66656174'::int, hashtext('HELD/1d'))`)
		}
	}()
	now := time.Now()
	b.publishTasks(t, kinds.NewFeaturesTask("HELD", market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", now),
		tasks.NewCollect("AAA", market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", now),
		tasks.NewCollect("BBB", market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", now))
	b.retry = backoff.Policy{Base: 100 * time.Millisecond, Max: 200 * time.Millisecond}
	stop := b.start(t, runner.Config{Tuning: runner.Tuning{WriteTimeout: time.Second}})
	for deadline := time.Now().Add(10 * time.Second); b.barsOf(t, "AAA") != 30 || b.barsOf(t, "BBB") != 30; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the collect tasks were not committed while the features task waited for its lock")
		}
	}
	if _, err := b.admin.Exec(ctx, `SELECT pg_advisory_unlock(x'66656174'::int, hashtext('HELD/1d'))`); err != nil {
		t.Fatal(err)
	}
	held = false
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	letters, err := b.dead.List(ctx, dlq.Filter{}, 0)
	if err != nil || len(letters) != 0 {
		t.Fatalf("dead letters %+v (%v), want none: the features task is retried until its lock is free", letters, err)
	}
}

// Behind a transaction-mode PgBouncer (store in pooler mode) the series
// locks are NATS KV leases: a task whose series another worker's lease
// holds waits (no fetch, no dead letter) and runs once the lease is
// released; the tasks of other series are not held up; and no advisory lock
// is taken on the server.
func TestBusySeriesWaitsForItsLeaseBehindAPooler(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	pooled, err := store.Open(ctx, testenv.ThroughPgBouncer(t, b.admin.Config().ConnString()),
		store.Config{ApplicationName: "marketfleet-worker/runner-pooled", Pooler: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pooled.Close(context.Background()) })
	b.db = pooled
	mine, err := leases.Open(ctx, b.js, leases.Config{Holder: "runner-test", TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mine.Close(context.Background()) })
	other, err := leases.Open(ctx, b.js, leases.Config{Holder: "other-worker", TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	busy := market.Series{Symbol: "BUSY", Interval: market.Interval1d}
	if took, err := other.LockSeries(ctx, []market.Series{busy}); err != nil || !took[0] {
		t.Fatalf("the other worker could not take BUSY: %v %v", took, err)
	}
	stop := b.start(t, runner.Config{Locker: mine})
	b.publish(t, "BUSY", "FREE")
	testenv.Eventually(t, 20*time.Second, "FREE stored while BUSY waits", func() bool { return b.barsOf(t, "FREE") == 30 })
	if n := len(b.src.callTimes("BUSY")); n != 0 {
		t.Fatalf("BUSY fetched %d times while another worker's lease held it", n)
	}
	var locks int
	if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = current_database()`).Scan(&locks); err != nil || locks != 0 {
		t.Fatalf("%d advisory locks on the server (%v): behind a pooler the locks are leases", locks, err)
	}
	if err := other.UnlockSeries(ctx, []market.Series{busy}); err != nil {
		t.Fatal(err)
	}
	b.waitEmpty(t, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := b.barsOf(t, "BUSY"); n != 30 {
		t.Fatalf("BUSY has %d bars after the lease was released, want 30", n)
	}
	if letters, err := b.dead.List(ctx, dlq.Filter{}, 0); err != nil || len(letters) != 0 {
		t.Fatalf("dead letters %v (%v): a busy task must be retried, not dead-lettered", letters, err)
	}
	if mine.Held() != 0 {
		t.Fatalf("the runner still holds %d leases after its tasks finished", mine.Held())
	}
}

// Two workers behind a transaction-mode PgBouncer, each with its own pooled
// store and leases, never run tasks of one series at the same time: the
// exclusivity the session-level locks give directly connected workers.
func TestTwoPooledWorkersNeverRunOneSeriesAtOnce(t *testing.T) {
	b := setup(t)
	b.size = 1
	ctx := context.Background()
	f := &inFlight{bySymbol: map[string]int{}}
	b.src.hook = func(s string) {
		f.enter(s)
		time.Sleep(100 * time.Millisecond)
		f.leave(s)
	}
	now := time.Now()
	var ts []tasks.Task
	for i := range 6 {
		from := day0.AddDate(0, 0, 30*i)
		ts = append(ts, tasks.NewCollect("SAME", market.Interval1d, from, from.AddDate(0, 0, 30), "runner-test", now))
	}
	b.publishTasks(t, ts...)
	pooledURL := testenv.ThroughPgBouncer(t, b.admin.Config().ConnString())
	var stops []func() error
	for _, id := range []string{"pooled-a", "pooled-b"} {
		db, err := store.Open(ctx, pooledURL, store.Config{ApplicationName: "marketfleet-worker/" + id, Pooler: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close(context.Background()) })
		locks, err := leases.Open(ctx, b.js, leases.Config{Holder: id, TTL: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = locks.Close(context.Background()) })
		b.db = db
		stops = append(stops, b.start(t, runner.Config{WorkerID: id, Locker: locks}))
	}
	b.waitEmpty(t, 60*time.Second)
	for _, stop := range stops {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	if _, one := f.peaks(); one != 1 {
		t.Fatalf("SAME was fetched %d times at once by the two workers, want 1", one)
	}
	if n := b.barsOf(t, "SAME"); n != 180 {
		t.Fatalf("SAME has %d bars, want 180 (all six windows)", n)
	}
}
