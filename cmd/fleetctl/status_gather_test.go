package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/queue"
	"marketfleet/ratelimit"
	"marketfleet/slots"
	"marketfleet/store"
	"marketfleet/tasks"
)

// waited is how long the first tasks wait before the rest are published.
const waited = 1500 * time.Millisecond

// fleet is a small, known state of NATS and PostgreSQL.
type fleet struct {
	nats *testenv.NATSServer
	// firstAt: before the first tasks were published; laterFrom/laterTo
	// bracket the publishing of the later ones.
	firstAt, laterFrom, laterTo time.Time
}

// setupFleet publishes tasks (one of them delivered and dead-lettered),
// a second dead letter, slot keys, bars and task counts, and points
// NATS_URL and DATABASE_URL at them.
func setupFleet(t *testing.T) fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := fleet{nats: testenv.NATS(t)}
	_, js := f.nats.Connect(t)
	setupTasks(ctx, t, js, &f)
	setupSlots(ctx, t, js)
	dbURL := testenv.NewDatabase(t)
	setupDatabase(ctx, t, dbURL)
	t.Setenv("NATS_URL", f.nats.URL())
	t.Setenv("DATABASE_URL", dbURL)
	return f
}

func setupTasks(ctx context.Context, t *testing.T, js jetstream.JetStream, f *fleet) {
	t.Helper()
	must(t, ensure(ctx, js))
	day := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	task := func(sym string, high bool) tasks.Task {
		tk := tasks.NewCollect(sym, market.Interval1d, day, day.AddDate(0, 0, 5), "status-test", time.Now())
		if high {
			tk.Priority = tasks.PriorityHigh
		}
		return tk
	}
	pub := queue.NewPublisher(js, "")
	f.firstAt = time.Now()
	_, err := pub.Publish(ctx, []tasks.Task{task("AAA", false), task("PPP", true)})
	must(t, err)
	time.Sleep(waited)
	f.laterFrom = time.Now()
	_, err = pub.Publish(ctx, []tasks.Task{task("BBB", false), task("CCC", false)})
	must(t, err)
	f.laterTo = time.Now()
	// A worker takes AAA and gives up on it, without acknowledging yet.
	cons, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
	must(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	msg := <-batch.Messages()
	if msg == nil {
		t.Fatal("fetched no task")
	}
	must(t, dlq.NewWriter(js, dlq.WriterConfig{}).Write(ctx, msg, dlq.Letter{Reason: "symbol AAA not found", Class: outcome.NotFound, Worker: "w1", Symbol: "AAA"}))
	raw := nats.NewMsg(dlq.SubjectPrefix + "." + string(outcome.Exhausted))
	raw.Header.Set(dlq.HeaderClass, string(outcome.Exhausted))
	raw.Header.Set(dlq.HeaderReason, "fetch: timeout")
	raw.Header.Set(dlq.HeaderStreamSeq, "999")
	raw.Header.Set(dlq.HeaderDeadAt, time.Now().UTC().Format(time.RFC3339Nano))
	_, err = js.PublishMsg(ctx, raw)
	must(t, err)
}

func ensure(ctx context.Context, js jetstream.JetStream) error {
	if _, _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{}); err != nil {
		return err
	}
	for _, high := range []bool{false, true} {
		if _, err := queue.EnsureConsumer(ctx, js, queue.DefaultStream, queue.ConsumerConfig{Priority: high}); err != nil {
			return err
		}
	}
	_, _, err := dlq.EnsureStream(ctx, js, dlq.Config{})
	return err
}

func setupSlots(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	_, err := slots.Open(ctx, js, slots.Config{})
	must(t, err)
	kv, err := js.KeyValue(ctx, slots.DefaultBucket)
	must(t, err)
	for key, h := range map[string]slots.Holder{
		"slot.0":  {Holder: "w1", Since: time.Now().Add(-time.Hour)},
		"wait.w2": {Holder: "w2", Since: time.Now().Add(-time.Minute)},
	} {
		b, _ := json.Marshal(h)
		_, err := kv.Put(ctx, key, b)
		must(t, err)
	}
}

func setupDatabase(ctx context.Context, t *testing.T, dbURL string) {
	t.Helper()
	// A worker's session: it shows under the fleet's line.
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: "marketfleet-worker/status-test"})
	must(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	_, err = db.Migrate(ctx)
	must(t, err)
	var bars []market.Bar
	one := 1.0
	for sym, days := range map[string]int{"OLD": 2, "MID": 5, "NEW": 9} {
		for d := range days {
			bars = append(bars, market.Bar{Symbol: sym, Interval: market.Interval1d, TS: time.Date(2025, 1, 1+d, 0, 0, 0, 0, time.UTC),
				Open: 1, High: 1, Low: 1, Close: 1, AdjClose: &one, Volume: 1, Source: "test", AsOf: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
		}
	}
	_, err = db.WriteBars(ctx, bars)
	must(t, err)
	// NEW splits 2:1 on 2025-01-05 (4 bars before it restated), and
	// MID's dividend was restated two days ago (outside the last day).
	ex := time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC)
	must(t, db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.RecordActions(ctx, []market.Action{
			{Symbol: "NEW", ExDate: ex, Kind: market.Split, Numerator: 2, Denominator: 1, Source: "test"},
			{Symbol: "MID", ExDate: ex.AddDate(0, 0, -1), Kind: market.Dividend, Amount: 0.01, Factor: 0.99, Source: "test"},
			{Symbol: "OLD", ExDate: ex.AddDate(0, 0, -3), Kind: market.Split, Numerator: 3, Denominator: 1, Source: "test"}, // not restated yet
		}); err != nil {
			return err
		}
		for _, sym := range []string{"NEW", "MID"} {
			if _, err := tx.Restate(ctx, market.Series{Symbol: sym, Interval: market.Interval1d}); err != nil {
				return err
			}
		}
		return nil
	}))
	admin := testenv.Connect(t, dbURL)
	_, err = admin.Exec(ctx, `UPDATE restatements SET restated_at = now() - interval '2 days'
		WHERE action_id IN (SELECT id FROM corporate_actions WHERE symbol = 'MID')`)
	must(t, err)
	now := time.Now()
	must(t, db.AddTaskCounts(ctx, []store.TaskCount{
		{Worker: "w1", Minute: now.Add(-10 * time.Minute), Kind: "collect", OK: 60, Retried: 5, DeadLettered: 1},
		{Worker: "w2", Minute: now, Kind: "collect", OK: 30, Retried: 2, DeadLettered: 2},
		{Worker: "w1", Minute: now.Add(-2 * time.Hour), Kind: "collect", Retried: 1000}, // outside the hour
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGatherReadsTheLiveFleet(t *testing.T) {
	f := setupFleet(t)
	cfg, err := loadConfig()
	must(t, err)
	r, err := gather(context.Background(), cfg, statusOptions{Stale: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("gather: %v (report %+v)", err, r)
	}
	r = finish(r, r.At)
	b := r.Backlog
	if b == nil || b.Messages != 4 || len(b.Consumers) != 2 {
		t.Fatalf("backlog = %+v, want 4 messages and 2 consumers", b)
	}
	normal, high := b.Consumers[0], b.Consumers[1]
	if normal.Name != queue.DefaultConsumer || normal.Pending != 2 || normal.AckPending != 1 || normal.OldestWaiting == nil {
		t.Fatalf("normal consumer = %+v, want 2 pending (BBB, CCC), 1 ack pending (AAA)", normal)
	}
	// The oldest waiting task is BBB, the first after the delivered AAA.
	slack := 100 * time.Millisecond
	if o := *normal.OldestWaiting; o.Before(f.laterFrom.Add(-slack)) || o.After(f.laterTo.Add(slack)) {
		t.Errorf("normal consumer's oldest waiting task published %s, want between %s and %s (BBB)", o, f.laterFrom, f.laterTo)
	}
	if high.Name != queue.DefaultPriorityConsumer || high.Pending != 1 || high.OldestWaiting == nil {
		t.Fatalf("priority consumer = %+v, want 1 pending", high)
	}
	if age := r.At.Sub(*high.OldestWaiting); age < waited || high.OldestWaiting.Before(f.firstAt.Add(-slack)) {
		t.Errorf("priority task waited %s (published %s), want at least %s", age, high.OldestWaiting, waited)
	}
	if d := r.DeadLetters; d == nil || d.Total != 2 || d.ByClass[string(outcome.NotFound)] != 1 || d.ByClass[string(outcome.Exhausted)] != 1 {
		t.Errorf("dead letters = %+v, want 1 not_found and 1 exhausted", d)
	}
	if s := r.Slots; s == nil || len(s.Held) != 1 || s.Held[0].Holder != "w1" || len(s.Waiting) != 1 {
		t.Errorf("slots = %+v, want w1 holding slot 0 and w2 waiting", s)
	}
	checkPostgres(t, r)
	for _, want := range []string{"failure rate 10.0% in the last hour", "2 dead letters", "1 replica waiting for a slot"} {
		if !hasFinding(r.Verdict, want) {
			t.Errorf("verdict %+v lacks %q", r.Verdict, want)
		}
	}
}

func checkPostgres(t *testing.T, r statusReport) {
	t.Helper()
	p := r.Postgres
	if p == nil || p.MaxConnections == 0 || p.Sessions < 1 {
		t.Fatalf("postgres = %+v", p)
	}
	fleetSeen := false
	for _, a := range p.Apps {
		fleetSeen = fleetSeen || a.Name == fleetApp && a.Workers >= 1
		if strings.HasPrefix(a.Name, "marketfleet-worker/") {
			t.Errorf("worker session %q listed apart from the fleet's line", a.Name)
		}
	}
	if !fleetSeen {
		t.Errorf("no %s line among %+v", fleetApp, p.Apps)
	}
	if f := r.Failures; f == nil || f.OK != 90 || f.Retried != 7 || f.DeadLettered != 3 || f.FailurePercent != 10 {
		t.Errorf("failures = %+v, want ok 90, retried 7, dead-lettered 3: 10%%", f)
	}
	if rs := r.Restatements; rs == nil || len(rs.ByKind) != 1 || rs.ByKind[0] != (restatementCount{Kind: "split", Series: 1, Symbols: 1, Bars: 4}) || rs.Pending != 1 {
		t.Errorf("restatements = %+v, want NEW's split: 1 series of 1 symbol, 4 bars (MID's is older than a day), and OLD's owed", rs)
	}
	fr := r.Freshness
	if fr == nil || len(fr.Series) != 2 || fr.Series[0].Symbol != "OLD" || fr.Series[1].Symbol != "MID" {
		t.Fatalf("freshness = %+v, want OLD then MID", fr)
	}
	if want := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC); !fr.Series[0].LastBar.Equal(want) {
		t.Errorf("OLD's last bar = %s, want %s", fr.Series[0].LastBar, want)
	}
}

func hasFinding(v verdict, text string) bool {
	for _, f := range v.Findings {
		if f.Text == text {
			return true
		}
	}
	return false
}

func TestStatusCommandJSON(t *testing.T) {
	setupFleet(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"status", "--json", "--stale", "1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc statusReport
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out.String())
	}
	if doc.Verdict.Level == levelOK || doc.DeadLetters.Total != 2 || len(doc.Freshness.Series) != 1 {
		t.Fatalf("report = %s", out.String())
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	must(t, l.Close())
	return addr
}

func TestStatusCommandNamesTheUnreachableService(t *testing.T) {
	f := setupFleet(t)
	_, port, _ := net.SplitHostPort(closedPort(t))
	tests := []struct {
		name, env, value, want, why, notWant string
	}{
		{"nats", "NATS_URL", "nats://" + closedPort(t), "NATS unreachable (NATS_URL)", "no servers available", "PostgreSQL"},
		// The store's error carries the last attempt's reason, not only the
		// timeout that ended the attempts.
		{"postgres", "DATABASE_URL", "postgres://postgres@127.0.0.1:" + port + "/postgres", "PostgreSQL unreachable (DATABASE_URL)",
			"connection refused", "NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NATS_URL", f.nats.URL())
			t.Setenv(tt.env, tt.value)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"status", "--timeout", "1s"}, &out, &errOut)
			msg := errOut.String()
			if code != 1 || !strings.Contains(msg, tt.want) || !strings.Contains(msg, tt.why) || strings.Contains(msg, tt.notWant) ||
				strings.Count(msg, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 1 and one line naming %s only, saying %q", code, msg, tt.want, tt.why)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

// TestStatusWatchKeepsTrying: with --watch, an unreachable NATS is shown in
// the report, and once it is back, the next report has the backlog.
func TestStatusWatchKeepsTrying(t *testing.T) {
	f := setupFleet(t)
	f.nats.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	done := make(chan int)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(ctx, []string{"status", "--watch=300ms", "--timeout", "500ms"}, &out, &errOut)
	}()
	time.Sleep(1500 * time.Millisecond)
	f.nats.Restart()
	if code := <-done; code != 0 {
		t.Fatalf("watch exited %d: %s", code, errOut.String())
	}
	frames := strings.Split(out.String(), "\n"+strings.Repeat("-", 70)+"\n\n")
	if len(frames) < 3 {
		t.Fatalf("%d reports in 4s, want several:\n%s", len(frames), out.String())
	}
	if !strings.HasPrefix(frames[0], "fleetctl status") || !strings.Contains(frames[0], "CRIT  NATS unreachable (NATS_URL)") {
		t.Fatalf("first report does not say NATS is unreachable:\n%s", frames[0])
	}
	last := frames[len(frames)-1]
	if !strings.Contains(last, "Backlog (stream "+queue.DefaultStream+": 4 messages") {
		t.Fatalf("last report, after NATS came back, has no backlog:\n%s", last)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Fatal("piped watch output has ANSI escapes")
	}
}

// fleetctl actions lists a symbol's actions and, under each, the series it
// restated; --json gives the same for scripts; a bad symbol is a usage
// error, an unknown one has none.
func TestActionsCommand(t *testing.T) {
	setupFleet(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"actions", "new"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"NEW: 1 corporate action", "2025-01-05  split  2:1", "restated 1d: 4 bars 2025-01-01..2025-01-04, factor 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"actions", "--json", "MID"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc struct {
		Symbol  string       `json:"symbol"`
		Actions []actionJSON `json:"actions"`
	}
	must(t, json.Unmarshal(out.Bytes(), &doc))
	if len(doc.Actions) != 1 || doc.Actions[0].Kind != "dividend" || doc.Actions[0].Factor != 0.99 ||
		len(doc.Actions[0].Restatements) != 1 || doc.Actions[0].Restatements[0].Bars != 3 {
		t.Fatalf("json = %s, want MID's dividend restating 3 bars", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"actions", "NONE"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no corporate actions") {
		t.Fatalf("exit %d, output %q: want none stored", code, out.String())
	}
	if code := run(context.Background(), []string{"actions", "a b"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d for a bad symbol, want 2", code)
	}
	if code := run(context.Background(), []string{"actions"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "missing the symbol") {
		t.Fatalf("exit %d (%s) without a symbol, want 2", code, errOut.String())
	}
}

// Each section has its own time limit: a table locked by another session
// makes the failure-rate section say "timed out" for itself, and every
// other section is still read, within the time the user gave.
func TestEachSectionHasItsOwnTimeLimit(t *testing.T) {
	setupFleet(t)
	cfg, err := loadConfig()
	must(t, err)
	ctx := context.Background()
	locker := testenv.Connect(t, cfg.Config.DatabaseURL)
	tx, err := locker.Begin(ctx)
	must(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `LOCK TABLE task_counts IN ACCESS EXCLUSIVE MODE`)
	must(t, err)
	start := time.Now()
	r, err := gather(ctx, cfg, statusOptions{Stale: 2, Timeout: time.Second})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	r = finish(r, r.At)
	if r.Failures != nil || r.SectionErrors["failures"] != "timed out after 1s" {
		t.Fatalf("failures %+v, section errors %v: want the section timed out after 1s", r.Failures, r.SectionErrors)
	}
	if r.Postgres == nil || r.Freshness == nil || r.History == nil || r.Backlog == nil || r.DeadLetters == nil || r.Slots == nil {
		t.Fatalf("the other sections are missing: %+v", r)
	}
	if !hasFinding(r.Verdict, "failures: timed out after 1s") || took > 10*time.Second {
		t.Fatalf("verdict %+v after %s, want a finding for the section, within seconds", r.Verdict, took)
	}
	var out bytes.Buffer
	must(t, render(&out, r, r.At, false))
	if !strings.Contains(out.String(), "Failures (last hour): unavailable (timed out after 1s)") {
		t.Fatalf("report does not name the section's timeout:\n%s", out.String())
	}
}

// The fleet's source limit is shown with its configured and current rate
// and why they differ; an open breaker is a WARN finding.
func TestStatusShowsTheSourceRateAndBreaker(t *testing.T) {
	f := setupFleet(t)
	_, js := f.nats.Connect(t)
	ctx := context.Background()
	l, err := ratelimit.Open(ctx, js, ratelimit.Config{Key: "source.yahoo", Rate: 10, BreakAfter: time.Second, Cooldown: time.Minute})
	must(t, err)
	cfg, err := loadConfig()
	must(t, err)
	show := func() (statusReport, string) {
		t.Helper()
		r, err := gather(ctx, cfg, statusOptions{Stale: 2, Timeout: 5 * time.Second})
		must(t, err)
		var out bytes.Buffer
		must(t, render(&out, r, time.Now(), false))
		return finish(r, time.Now()), out.String()
	}
	r, text := show()
	if r.Source == nil || len(*r.Source) != 0 || !strings.Contains(text, "Source rate (fleet-wide): unlimited") {
		t.Fatalf("no limiter used yet: source %v, text:\n%s", r.Source, text)
	}
	if _, err := l.Penalize(ctx, "HTTP 429"); err != nil {
		t.Fatal(err)
	}
	r, text = show()
	if s := *r.Source; len(s) != 1 || s[0].Key != "source.yahoo" || s[0].Configured != 10 || s[0].Current < 4.9 || s[0].Current > 5.1 ||
		s[0].Reason != "HTTP 429" || s[0].CutAt == nil || s[0].FailingSince == nil || s[0].PausedUntil != nil {
		t.Fatalf("after one 429: source %+v; want 5 of 10/s, cut because of HTTP 429, failing, not paused", s)
	}
	if !strings.Contains(text, "source.yahoo: 5") || !strings.Contains(text, " of 10 requests/s, cut 0s ago (HTTP 429)") {
		t.Fatalf("status text lacks the cut rate:\n%s", text)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cur, _ := l.Current(ctx); !cur.Paused(); cur, _ = l.Current(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open")
		}
		must(t, l.Failed(ctx, "HTTP 429"))
		time.Sleep(100 * time.Millisecond)
	}
	r, text = show()
	if s := *r.Source; s[0].PausedUntil == nil || s[0].Openings != 1 || s[0].Current != 0.5 {
		t.Fatalf("breaker open: source %+v; want paused, 1 opening, the floor rate 0.5/s", s)
	}
	found := false
	for _, fd := range r.Verdict.Findings {
		found = found || fd.Level == levelWarn && strings.HasPrefix(fd.Text, "the fleet has stopped asking the source (source.yahoo) until")
	}
	if !found || !strings.Contains(text, "breaker OPEN until") {
		t.Fatalf("breaker open: verdict %+v, text:\n%s", r.Verdict, text)
	}
}
