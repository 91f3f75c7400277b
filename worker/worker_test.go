package worker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"marketfleet/internal/config"
	"marketfleet/internal/rungroup"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/slots"
	"marketfleet/store"
	"marketfleet/tasks"
	"marketfleet/worker"
)

// fleet is a test's services: an in-process JetStream server and a fresh
// database.
type fleet struct {
	nats  *testenv.NATSServer
	dbURL string
	admin *pgx.Conn
}

func setup(t *testing.T) *fleet {
	t.Helper()
	n := testenv.NATS(t)
	dbURL := testenv.NewDatabase(t)
	// Migrated first, so that the test may read the tables before a
	// worker has.
	if err := worker.Migrate(context.Background(), worker.Config{DatabaseURL: dbURL}); err != nil {
		t.Fatal(err)
	}
	return &fleet{nats: n, dbURL: dbURL, admin: testenv.Connect(t, dbURL)}
}

// warmUp runs a worker once and stops it, so that the server holds every
// stream, consumer and bucket a worker makes: a leak check started after
// it sees the worker's goroutines, not the server's.
func (f *fleet) warmUp(t *testing.T) {
	t.Helper()
	r := start(t, f.config("warm-up"))
	testenv.Eventually(t, 20*time.Second, "the warm-up worker holds its session", func() bool { return f.sessions(t, "marketfleet-worker/warm-up") == 1 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// config is a worker's configuration on the test's services, quick to
// hand its slot over.
func (f *fleet) config(id string) worker.Config {
	return worker.Config{
		ID:          id,
		DatabaseURL: f.dbURL,
		Dial: func(context.Context, worker.NATSHooks) (*nats.Conn, jetstream.JetStream, error) {
			nc, err := nats.Connect(f.nats.URL())
			if err != nil {
				return nil, nil, err
			}
			js, err := jetstream.New(nc)
			return nc, js, err
		},
	}
}

// running is a worker started in a group with its metrics server, as
// cmd/worker runs it.
type running struct {
	w    *worker.Worker
	stop func() error
}

func start(t *testing.T, cfg worker.Config) *running {
	t.Helper()
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Background(t, "the worker", func(ctx context.Context) error {
		return rungroup.Run(ctx, rungroup.Actor{Name: "metrics server", Run: w.ServeHTTP}, rungroup.Actor{Name: "worker", Run: w.Run})
	})
	return &running{w: w, stop: stop}
}

func (f *fleet) publish(t *testing.T, symbols ...string) {
	t.Helper()
	day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ts []tasks.Task
	for _, s := range symbols {
		ts = append(ts, tasks.NewCollect(s, market.Interval1d, day0, day0.AddDate(0, 0, 30), "worker-test", time.Now()))
	}
	f.withJetStream(t, func(js jetstream.JetStream) {
		if _, err := queue.NewPublisher(js, "").Publish(context.Background(), ts); err != nil {
			t.Fatal(err)
		}
	})
}

// withJetStream calls fn with a connection of its own, closed on return: a
// leak check sees the worker's goroutines, not the test's.
func (f *fleet) withJetStream(t *testing.T, fn func(js jetstream.JetStream)) {
	t.Helper()
	nc, err := nats.Connect(f.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	fn(js)
}

func (f *fleet) bars(t *testing.T, symbol string) int {
	t.Helper()
	var n int
	if err := f.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = $1`, symbol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fleet) sessions(t *testing.T, app string) int {
	t.Helper()
	var n int
	if err := f.admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// freeAddr is a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The whole life: the worker takes a slot, opens its one session, migrates,
// reports ready, applies tasks (collect and the features they enqueue),
// and on cancellation finishes, closes the session, frees the slot, stops
// its metrics server and leaves no goroutine behind.
func TestWorkerLifeFromSlotToShutdown(t *testing.T) {
	f := setup(t)
	f.warmUp(t)
	leaks := goleak.IgnoreCurrent()
	cfg := f.config("life-1")
	cfg.MetricsAddr = freeAddr(t)
	r := start(t, cfg)
	testenv.Eventually(t, 20*time.Second, "/readyz answers ready", func() bool { code, _ := get(cfg.MetricsAddr, "/readyz"); return code == 200 })
	if n := f.sessions(t, "marketfleet-worker/life-1"); n != 1 {
		t.Fatalf("%d sessions of the worker, want exactly 1", n)
	}
	f.publish(t, "AAA", "BBB", "CCC")
	testenv.Eventually(t, 20*time.Second, "every task's bars and features stored", func() bool {
		var bars, feats int
		_ = f.admin.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM bars), (SELECT count(*) FROM features)`).Scan(&bars, &feats)
		return bars == 90 && feats == 90
	})
	if code, body := get(cfg.MetricsAddr, "/metrics"); code != 200 || !strings.Contains(body, `marketfleet_tasks_total{kind="collect",outcome="ok"} 3`) {
		t.Fatalf("/metrics: %d, want 3 collect tasks ok:\n%.2000s", code, body)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stopped worker: %v, want nil", err)
	}
	if code, _ := get(cfg.MetricsAddr, "/healthz"); code != 0 {
		t.Fatalf("/healthz still answers %d after the worker stopped", code)
	}
	testenv.Eventually(t, 5*time.Second, "the session closed", func() bool { return f.sessions(t, "marketfleet-worker/life-1") == 0 })
	f.withJetStream(t, func(js jetstream.JetStream) {
		kv, err := js.KeyValue(context.Background(), "MARKETFLEET_SLOTS")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(context.Background(), "slot.0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("slot.0 after a clean stop: %v, want it freed", err)
		}
	})
	goleak.VerifyNone(t, leaks)
}

// A metrics server that cannot listen stops the worker at once, saying why;
// one that is up does not keep a stopped worker's group alive.
func TestMetricsServerFailureStopsTheWorker(t *testing.T) {
	f := setup(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := f.config("deaf-1")
	cfg.MetricsAddr = taken.Addr().String()
	r := start(t, cfg)
	done := make(chan error, 1)
	go func() { done <- r.stop() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metrics server: listen tcp") || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("worker with a taken metrics address stopped with %v, want the listen error named", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	if n := f.sessions(t, "marketfleet-worker/deaf-1"); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// Under a budget of one session a second worker waits without connecting,
// and takes the slot over when the first stops.
func TestSecondWorkerWaitsForTheSlot(t *testing.T) {
	f := setup(t)
	one := f.config("slot-1")
	one.Budget.Cap = 1
	one.Slots.TTL = 2 * time.Second
	a := start(t, one)
	testenv.Eventually(t, 20*time.Second, "the first worker holds its session", func() bool { return f.sessions(t, "marketfleet-worker/slot-1") == 1 })
	two := one
	two.ID = "slot-2"
	b := start(t, two)
	testenv.Eventually(t, 10*time.Second, "the second worker waits for a slot", func() bool {
		return gauge(t, b.w, "marketfleet_slot_waiting") == 1
	})
	if n := f.sessions(t, "marketfleet-worker/slot-2"); n != 0 {
		t.Fatalf("the waiting worker holds %d sessions, want 0", n)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the second worker takes the slot over", func() bool { return f.sessions(t, "marketfleet-worker/slot-2") == 1 })
	f.publish(t, "TAKEN")
	testenv.Eventually(t, 20*time.Second, "the second worker applies a task", func() bool { return f.bars(t, "TAKEN") == 30 })
}

func gauge(t *testing.T, w *worker.Worker, name string) float64 {
	t.Helper()
	mfs, err := w.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// Validation names the field a command maps back to its variable, and New
// refuses a configuration without a NATS dialer.
func TestConfigErrorsNameTheField(t *testing.T) {
	for path, mutate := range map[string]func(*worker.Config){
		"Fetcher.Size":           func(c *worker.Config) { c.Fetcher.Size = 2000 },
		"Runner.Pipeline":        func(c *worker.Config) { c.Runner.Pipeline = 9 },
		"Stream.Name":            func(c *worker.Config) { c.Stream.Name = "a.b" },
		"Slots.TTL":              func(c *worker.Config) { c.Slots.TTL = time.Millisecond },
		"Source.Name":            func(c *worker.Config) { c.Source.Name = "bloomberg" },
		"Source.Yahoo.BaseURL":   func(c *worker.Config) { c.Source.Name, c.Source.Yahoo.BaseURL = "yahoo", "ftp://x" },
		"Source.Rate":            func(c *worker.Config) { c.Source.Rate = "fast" },
		"Consumer.MaxAckPending": func(c *worker.Config) { c.Consumer.MaxAckPending = 1 },
		"Runner.Grace":           func(c *worker.Config) { c.Runner.Grace = time.Second },
		"ID":                     func(c *worker.Config) { c.ID = "a b" },
		"Replicas":               func(c *worker.Config) { c.Replicas = 7 },
		"StatementTimeout":       func(c *worker.Config) { c.StatementTimeout = time.Millisecond },
	} {
		c := worker.Config{}.WithDefaults()
		mutate(&c)
		var fe *config.FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != path {
			t.Errorf("%s: Validate = %v, want a field error on %s", path, err, path)
		}
	}
	if _, err := worker.New(worker.Config{}); !errors.Is(err, worker.ErrInvalidConfig) {
		t.Fatalf("New without Dial = %v, want ErrInvalidConfig", err)
	}
}

var zeroLogger zerolog.Logger

func TestPausePoint(t *testing.T) {
	for _, bad := range []string{"after-commit", "during:1s", "before-commit:-1s", "before-commit:soon"} {
		if _, err := worker.PausePoint(bad, zeroLogger); err == nil {
			t.Errorf("PausePoint(%q) = nil error", bad)
		}
	}
	f, err := worker.PausePoint("after-commit:1ms", zeroLogger)
	if err != nil || f.AfterCommit == nil || f.BeforeCommit != nil {
		t.Fatalf("PausePoint(after-commit:1ms) = %+v, %v", f, err)
	}
	if f, err := worker.PausePoint("", zeroLogger); err != nil || f.AfterCommit != nil || f.BeforeCommit != nil {
		t.Fatalf("PausePoint(\"\") = %+v, %v; want none", f, err)
	}
}

// The holder of slot 0 sweeps for series a recent action has not been
// applied to (here recorded with no restate task ever enqueued, as when a
// collect task's follow-ups were lost), enqueues their restate tasks, and
// the fleet applies them: counted in the metrics.
func TestSweepRestatesWhatNoTaskAskedFor(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	db, err := store.Open(ctx, f.dbURL, store.Config{ApplicationName: "sweep-test"})
	if err != nil {
		t.Fatal(err)
	}
	bars := testenv.Walk("SWP", 20)
	for i := range bars {
		bars[i].AsOf = testenv.WalkStart
	}
	ex := bars[19].TS.AddDate(0, 0, 1)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.WriteBars(ctx, bars); err != nil {
			return err
		}
		_, err := tx.RecordActions(ctx, []market.Action{{Symbol: "SWP", ExDate: ex, Kind: market.Split, Numerator: 2, Denominator: 1, Source: "test"}})
		return err
	})
	_ = db.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, f.config("sweeper"))
	testenv.Eventually(t, 30*time.Second, "the sweep's restate task to apply the split", func() bool {
		var n int
		_ = f.admin.QueryRow(ctx, `SELECT count(*) FROM restatements WHERE bars_changed = 20`).Scan(&n)
		return n == 1
	})
	testenv.Eventually(t, 10*time.Second, "the restatement counted", func() bool {
		return counter(t, r.w, "marketfleet_restatements_total", "split") == 1 && counter(t, r.w, "marketfleet_bars_restated_total", "split") == 20
	})
	var close float64
	if err := f.admin.QueryRow(ctx, `SELECT close FROM bars WHERE symbol = 'SWP' ORDER BY ts LIMIT 1`).Scan(&close); err != nil || close != bars[0].Close/2 {
		t.Fatalf("first close %v (%v), want %v", close, err, bars[0].Close/2)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// counter reads one series of a counter vector from the worker's registry.
// A kind of "" reads a counter without labels.
func counter(t *testing.T, w *worker.Worker, name, kind string) float64 {
	t.Helper()
	mfs, err := w.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if kind == "" && len(m.GetLabel()) == 0 {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// The holder of slot 0 re-collects provisional bars that are due (here one
// stored with a volume since revised) and, with no audit recorded yet,
// audits the history, repairs its gap (deleted rows) and records the run.
func TestSlotZeroSettlesProvisionalBarsAndRepairsGaps(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	cfg := f.config("collector")
	cfg.History.AuditEvery = -1 // never: the database starts empty
	r := start(t, cfg)
	f.publish(t, "HKP")
	testenv.Eventually(t, 30*time.Second, "January 2024 stored", func() bool { return f.bars(t, "HKP") == 30 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var want int64
	if err := f.admin.QueryRow(ctx, `SELECT volume FROM bars WHERE symbol = 'HKP' AND ts = '2024-01-22'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Exec(ctx, `DELETE FROM bars WHERE symbol = 'HKP' AND ts IN ('2024-01-10', '2024-01-11')`); err != nil {
		t.Fatal(err)
	}
	// Stored with a volume since revised, its final values available since
	// an hour ago (as after a short outage of the fleet).
	if _, err := f.admin.Exec(ctx, `UPDATE bars SET volume = 1, provisional_until = now() - interval '1 hour'
		WHERE symbol = 'HKP' AND ts = '2024-01-22'`); err != nil {
		t.Fatal(err)
	}
	r = start(t, f.config("housekeeper"))
	testenv.Eventually(t, 30*time.Second, "the gap repaired and the provisional bar final", func() bool {
		var volume int64
		var provisional bool
		err := f.admin.QueryRow(ctx, `SELECT volume, provisional_until IS NOT NULL FROM bars WHERE symbol = 'HKP' AND ts = '2024-01-22'`).Scan(&volume, &provisional)
		return err == nil && volume == want && !provisional && f.bars(t, "HKP") == 30
	})
	var by string
	var gaps, repairs int
	if err := f.admin.QueryRow(ctx, `SELECT by_whom, gaps, repair_tasks FROM audits ORDER BY id LIMIT 1`).Scan(&by, &gaps, &repairs); err != nil ||
		by != "worker/housekeeper" || gaps != 1 || repairs != 1 {
		t.Fatalf("recorded audit: by %q, %d gaps, %d repair tasks (%v); want worker/housekeeper, 1, 1", by, gaps, repairs, err)
	}
	testenv.Eventually(t, 10*time.Second, "the gap found and the bars repaired counted", func() bool {
		return counter(t, r.w, "marketfleet_gaps_found_total", "") == 1 && counter(t, r.w, "marketfleet_bars_repaired_total", "") == 2
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// An operator deleting the workers' consumer, or the whole task stream,
// does not stall the worker: it recreates them, says so at error level,
// and goes on consuming what is published next.
func TestDeletedConsumerAndStreamAreRecreated(t *testing.T) {
	f := setup(t)
	cfg := f.config("restore-1")
	logs := &testenv.Buffer{}
	cfg.Logger = zerolog.New(logs)
	r := start(t, cfg)
	defer func() {
		if err := r.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	f.publish(t, "AAA")
	testenv.Eventually(t, 20*time.Second, "AAA stored", func() bool { return f.bars(t, "AAA") == 30 })

	f.withJetStream(t, func(js jetstream.JetStream) {
		if err := js.DeleteConsumer(context.Background(), queue.DefaultStream, queue.DefaultConsumer); err != nil {
			t.Fatal(err)
		}
	})
	f.publish(t, "BBB")
	testenv.Eventually(t, 20*time.Second, "BBB stored after the consumer was deleted", func() bool { return f.bars(t, "BBB") == 30 })
	if l := logs.Lines("a consumer of the task stream was deleted: recreated it; its tasks are delivered again from the stream"); len(l) == 0 || l[0]["level"] != "error" {
		t.Fatalf("error lines about the consumer = %v", l)
	}

	// The priority consumer too: an urgent task still gets through.
	f.withJetStream(t, func(js jetstream.JetStream) {
		ctx := context.Background()
		if err := js.DeleteConsumer(ctx, queue.DefaultStream, queue.DefaultPriorityConsumer); err != nil {
			t.Fatal(err)
		}
		day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		urgent := tasks.NewCollect("URG", market.Interval1d, day0, day0.AddDate(0, 0, 30), "worker-test", time.Now())
		urgent.Priority = tasks.PriorityHigh
		if _, err := queue.NewPublisher(js, "").Publish(ctx, []tasks.Task{urgent}); err != nil {
			t.Fatal(err)
		}
	})
	testenv.Eventually(t, 20*time.Second, "URG stored after the priority consumer was deleted", func() bool { return f.bars(t, "URG") == 30 })

	f.withJetStream(t, func(js jetstream.JetStream) {
		if err := js.DeleteStream(context.Background(), queue.DefaultStream); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "the worker recreated the stream", func() bool {
			_, err := js.Stream(context.Background(), queue.DefaultStream)
			return err == nil
		})
	})
	f.publish(t, "CCC")
	testenv.Eventually(t, 20*time.Second, "CCC stored after the stream was deleted", func() bool { return f.bars(t, "CCC") == 30 })
	if l := logs.Lines("the task stream was deleted: recreated it and the consumers; the tasks it held are gone (enqueue them again: producer enqueue/backfill, fleetctl audit --repair)"); len(l) == 0 || l[0]["level"] != "error" {
		t.Fatalf("error lines about the stream = %v", l)
	}
}

// A database dropped and recreated under running workers is migrated again
// at the first statement that finds a table missing (by whichever worker
// gets the lock first; the other finds nothing to do), and both go on; a
// table dropped by hand, which no migration recreates, stops a worker
// with ErrSchemaBroken instead of failing every task forever.
func TestRecreatedDatabaseIsMigratedAgain(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type running struct {
		logs *testenv.Buffer
		done chan error
	}
	var ws []running
	for _, id := range []string{"remigrate-1", "remigrate-2"} {
		cfg := f.config(id)
		r := running{logs: &testenv.Buffer{}, done: make(chan error, 1)}
		cfg.Logger = zerolog.New(r.logs)
		w, err := worker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		go func() { r.done <- w.Run(ctx) }()
		ws = append(ws, r)
	}
	testenv.Eventually(t, 20*time.Second, "both workers hold their session", func() bool {
		return f.sessions(t, "marketfleet-worker/remigrate-1") == 1 && f.sessions(t, "marketfleet-worker/remigrate-2") == 1
	})
	f.publish(t, "AAA")
	testenv.Eventually(t, 20*time.Second, "AAA stored", func() bool { return f.bars(t, "AAA") == 30 })

	var name string
	if err := f.admin.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	admin := testenv.Connect(t, testenv.AdminURL())
	for _, sql := range []string{"DROP DATABASE " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	f.admin = testenv.Connect(t, f.dbURL)
	symbols := []string{"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"}
	f.publish(t, symbols...)
	testenv.Eventually(t, 60*time.Second, "every task stored in the recreated database", func() bool {
		var n int
		_ = f.admin.QueryRow(ctx, `SELECT count(*) FROM bars WHERE symbol LIKE 'B_'`).Scan(&n)
		return n == 30*len(symbols)
	})
	applied := 0
	for i, r := range ws {
		select {
		case err := <-r.done:
			t.Fatalf("worker %d stopped after the database was recreated: %v", i+1, err)
		default:
		}
		for _, l := range r.logs.Lines("a table or column was missing (was the database dropped and recreated?): re-ran the migrations; the task is retried") {
			if l["level"] != "error" {
				t.Fatalf("re-migration line %v, want error level", l)
			}
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("%d workers applied the migrations again, want exactly 1 (the other finds nothing to do)", applied)
	}

	// The running workers' transactions may deadlock with the drop: the
	// server aborts the drop, which is then tried again.
	testenv.Eventually(t, 20*time.Second, "the tables dropped", func() bool {
		_, err := f.admin.Exec(ctx, `DROP TABLE features; DROP TABLE bars CASCADE`)
		if err != nil && store.SQLState(err) != store.CodeDeadlock {
			t.Fatal(err)
		}
		return err == nil
	})
	f.publish(t, "CCC", "DDD", "EEE", "FFF")
	other := ws[1].done
	select {
	case err := <-ws[0].done:
		checkBroken(t, err, ws[0].logs)
	case err := <-ws[1].done:
		checkBroken(t, err, ws[1].logs)
		other = ws[0].done
	case <-time.After(60 * time.Second):
		t.Fatal("the workers still run on a schema no migration repairs")
	}
	// The other worker may be replaying a batch on a session it is still
	// trying to get back: stop it and wait, so that nothing of it outlives
	// the test (the package's leak check would catch it).
	cancel()
	select {
	case <-other:
	case <-time.After(60 * time.Second):
		t.Fatal("the other worker did not stop within 60s of its cancellation")
	}
}

func checkBroken(t *testing.T, err error, logs *testenv.Buffer) {
	t.Helper()
	if !errors.Is(err, store.ErrSchemaBroken) || !strings.Contains(err.Error(), "42P01") {
		t.Fatalf("worker stopped with %v, want ErrSchemaBroken naming SQLSTATE 42P01", err)
	}
	if l := logs.Lines("stopping: the schema is broken"); len(l) != 1 || l[0]["level"] != "error" {
		t.Fatalf("broken-schema lines = %v", l)
	}
}

// A budget of 0 is an error line with its arithmetic, published with it
// (fleetctl status: CRIT), from the very first computation.
func TestZeroBudgetIsAnErrorWithItsArithmetic(t *testing.T) {
	f := setup(t)
	cfg := f.config("zero-1")
	cfg.Budget.Reserve = 1000 // more than max_connections: nothing left
	logs := &testenv.Buffer{}
	cfg.Logger = zerolog.New(logs)
	r := start(t, cfg)
	defer func() { _ = r.stop() }()
	msg := "the connection budget is 0: no worker may hold a session until other applications close some (or lower FLEET_DB_RESERVE); this worker gives its slot up and checks again when the budget expires"
	testenv.Eventually(t, 20*time.Second, "the zero budget logged", func() bool { return len(logs.Lines(msg)) > 0 })
	l := logs.Lines(msg)[0]
	if l["level"] != "error" || !strings.Contains(l["arithmetic"].(string), "reserve 1000") || !strings.HasSuffix(l["arithmetic"].(string), "(budget 0)") {
		t.Fatalf("zero budget line = %v", l)
	}
	f.withJetStream(t, func(js jetstream.JetStream) {
		tab, err := slots.Open(context.Background(), js, cfg.WithDefaults().SlotsConfig())
		if err != nil {
			t.Fatal(err)
		}
		var pub slots.Limit
		testenv.Eventually(t, 10*time.Second, "the zero budget published", func() bool {
			l, ok, err := tab.CurrentLimit(context.Background())
			pub = l
			return err == nil && ok
		})
		if pub.Slots != 0 || !strings.Contains(pub.Arithmetic, "reserve 1000") || pub.Database == "" {
			t.Fatalf("published budget %+v, want 0 with its arithmetic and database", pub)
		}
	})
}

// With slot 0 vacant, the worker holding the lowest slot publishes the
// budget: a lone worker on slot 1 does not leave the fleet without one.
func TestLowestHeldSlotPublishesTheBudget(t *testing.T) {
	f := setup(t)
	quick := func(id string) worker.Config {
		c := f.config(id)
		c.Runner.HousekeepingEvery = 500 * time.Millisecond
		return c
	}
	a := start(t, quick("low-a"))
	testenv.Eventually(t, 20*time.Second, "a holds its session", func() bool { return f.sessions(t, "marketfleet-worker/low-a") == 1 })
	bcfg := quick("low-b")
	logs := &testenv.Buffer{}
	bcfg.Logger = zerolog.New(logs)
	b := start(t, bcfg)
	defer func() { _ = b.stop() }()
	testenv.Eventually(t, 20*time.Second, "b holds its session", func() bool { return f.sessions(t, "marketfleet-worker/low-b") == 1 })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	f.withJetStream(t, func(js jetstream.JetStream) {
		tab, err := slots.Open(context.Background(), js, quick("x").WithDefaults().SlotsConfig())
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, "b (slot 1) publishes the budget", func() bool {
			pub, ok, err := tab.CurrentLimit(context.Background())
			return err == nil && ok && pub.By == "low-b" && pub.Slots > 0
		})
		// And goes on publishing, every housekeeping, without flapping.
		first, _, _ := tab.CurrentLimit(context.Background())
		steady := time.Now().Add(4 * time.Second) // 8 housekeeping runs
		testenv.Eventually(t, 10*time.Second, "8 housekeeping runs", func() bool {
			pub, ok, err := tab.CurrentLimit(context.Background())
			if err != nil || !ok || pub.By != "low-b" {
				t.Fatalf("budget %+v (%v, %v) while b is the lowest holder", pub, ok, err)
			}
			return time.Now().After(steady) && pub.At.Sub(first.At) >= 3*time.Second
		})
		if n := len(logs.Lines("no worker holds a lower slot: this one publishes the connection budget")); n != 1 {
			t.Fatalf("b took over %d times, want once", n)
		}
		st, err := tab.State(context.Background())
		if err != nil || len(st.Held) != 1 || st.Held[0].Holder != "low-b" || st.Held[0].Slot != 1 {
			t.Fatalf("slots %+v (%v): want b alone, on slot 1", st, err)
		}
	})
}

// Behind PgBouncer (FLEET_DB_POOLER) a worker runs, and the budget it
// publishes is capped by the pooler's pool size.
func TestPooledWorkerCapsTheBudgetByThePoolSize(t *testing.T) {
	f := setup(t)
	cfg := f.config("pooled-1")
	cfg.DatabaseURL = testenv.ThroughPgBouncer(t, f.dbURL)
	cfg.DBPooler, cfg.DBPoolSize = worker.PoolerPgBouncer, 2
	r := start(t, cfg)
	defer func() { _ = r.stop() }()
	f.publish(t, "POOLED")
	testenv.Eventually(t, 20*time.Second, "POOLED stored through the pooler", func() bool { return f.bars(t, "POOLED") == 30 })
	f.withJetStream(t, func(js jetstream.JetStream) {
		tab, err := slots.Open(context.Background(), js, cfg.WithDefaults().SlotsConfig())
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "a budget capped at the pool size", func() bool {
			pub, ok, err := tab.CurrentLimit(context.Background())
			return err == nil && ok && pub.Slots == 2 && strings.Contains(pub.Arithmetic, "cap 2")
		})
	})
}
