package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/store"
)

const app = "marketfleet-worker/store-test"

func open(t *testing.T, dbURL string, name string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dbURL, store.Config{ApplicationName: name,
		ConnectBackoff: backoff.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func sessions(t *testing.T, admin *pgx.Conn, name string) []uint32 {
	t.Helper()
	rows, err := admin.Query(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid`, name)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

func TestOpenHoldsExactlyOneNamedSession(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	s := open(t, dbURL, app)
	pids := sessions(t, admin, app)
	if len(pids) != 1 || pids[0] != s.BackendPID() {
		t.Fatalf("sessions named %s = %v, want exactly [%d]", app, pids, s.BackendPID())
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, admin, app, 0)
}

func TestReconnectReplacesTheSession(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	s := open(t, dbURL, app)
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	old := s.BackendPID()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatal(err)
	}
	_, err := s.WriteBars(ctx, bars("AAPL", 3))
	if err == nil {
		t.Fatal("WriteBars on a terminated session succeeded; the fault did not fire")
	}
	if outcome.Of(err) != outcome.Transient {
		t.Fatalf("terminated session error %v classified %s, want transient", err, outcome.Of(err))
	}
	if s.Up() {
		t.Fatal("store still claims a session after the backend was terminated")
	}
	if err := s.EnsureSession(ctx); err != nil {
		t.Fatal(err)
	}
	if s.BackendPID() == old || s.BackendPID() == 0 {
		t.Fatalf("backend pid after reconnect = %d, old %d: want a new one", s.BackendPID(), old)
	}
	// The terminated backend may take a moment to exit on a loaded
	// server: what must remain is one session, the new one.
	waitSessions(t, admin, app, 1)
	if pids := sessions(t, admin, app); len(pids) != 1 || pids[0] != s.BackendPID() {
		t.Fatalf("sessions after reconnect = %v, want only the new one %d", pids, s.BackendPID())
	}
	if _, err := s.WriteBars(ctx, bars("AAPL", 3)); err != nil {
		t.Fatalf("WriteBars after reconnect: %v", err)
	}
}

func waitSessions(t *testing.T, admin *pgx.Conn, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := sessions(t, admin, name)
		if len(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions named %s = %v, want %d", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMigrateConcurrentlyAppliesOnce(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	ms, err := store.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("Migrations() = %v, %v", ms, err)
	}
	const n = 6
	stores := make([]*store.Store, n)
	for i := range stores {
		stores[i] = open(t, dbURL, app)
	}
	var wg sync.WaitGroup
	applied := make([][]int, n)
	errs := make([]error, n)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = s.Migrate(context.Background())
		}()
	}
	wg.Wait()
	total := 0
	for i := range stores {
		if errs[i] != nil {
			t.Fatalf("Migrate %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != len(ms) {
		t.Fatalf("%d workers applied %d migrations in all, want %d (each once)", n, total, len(ms))
	}
	admin := testenv.Connect(t, dbURL)
	var count int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM marketfleet_migrations`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != len(ms) {
		t.Fatalf("marketfleet_migrations has %d rows, want %d", count, len(ms))
	}
}

func TestOpenBadConnStringHidesPassword(t *testing.T) {
	for _, bad := range []string{
		"postgres://user:s3cr3t-canary@host:notaport/db",
		"host=x password=s3cr3t-canary port=notaport",
	} {
		_, err := store.Open(context.Background(), bad, store.Config{})
		if !errors.Is(err, store.ErrBadConnString) {
			t.Fatalf("Open(%q) = %v, want ErrBadConnString", bad, err)
		}
		if strings.Contains(err.Error(), "s3cr3t-canary") {
			t.Fatalf("error leaks the password: %v", err)
		}
	}
}

func TestOpenGivesUpWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Port 1 on loopback refuses connections at once.
	_, err := store.Open(ctx, "postgres://postgres:s3cr3t-canary@127.0.0.1:1/x?sslmode=disable",
		store.Config{ConnectBackoff: backoff.Policy{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open to a closed port = %v, want a deadline error", err)
	}
	// The error says why the last attempt failed, without reading the log.
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "last attempt: ") {
		t.Fatalf("Open to a closed port = %v, want the last attempt's connection refused in the error", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-canary") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func bars(symbol string, n int) []market.Bar {
	out := make([]market.Bar, n)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		adj := 10.5 + float64(i)
		out[i] = market.Bar{Symbol: symbol, Interval: market.Interval1d, TS: t0.AddDate(0, 0, i),
			Open: 10, High: 12, Low: 9, Close: 11 + float64(i), AdjClose: &adj, Volume: int64(1000 * i), Source: "test"}
	}
	return out
}

// TestReapStaleSessions: a session the network left half-open on the server
// (same role, same application_name) is terminated by the next session.
func TestReapStaleSessions(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	admin := testenv.Connect(t, dbURL)
	const name = "marketfleet-worker/reap-test"
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = name
	ghost, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close(context.Background())
	s, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: name, ReapStaleSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	waitSessions(t, admin, name, 1)
	if pids := sessions(t, admin, name); pids[0] != s.BackendPID() {
		t.Fatalf("the surviving session is %d, want the new one %d", pids[0], s.BackendPID())
	}
	// Without the option, nothing is reaped.
	other, err := store.Open(context.Background(), dbURL, store.Config{ApplicationName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	waitSessions(t, admin, name, 2)
}

// A session the server keeps refusing is logged with its reason at error
// level at once when the settings are wrong (here, a database that does
// not exist), then again at most once per RefusedLogEvery, and at debug
// level in between.
func TestRefusalsAreLoggedAtErrorLevelPeriodically(t *testing.T) {
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	u, err := url.Parse(testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/mf_no_such_database"
	_, err = store.Open(ctx, u.String(), store.Config{Logger: zerolog.New(logs).Level(zerolog.DebugLevel),
		ConnectBackoff: backoff.Policy{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}, RefusedLogEvery: time.Second})
	if err == nil || !strings.Contains(err.Error(), "the database does not exist") {
		t.Fatalf("Open = %v, want the reason in the error", err)
	}
	lines := logs.Lines("postgres refused the session: the database does not exist; waiting (no tasks are taken meanwhile)")
	byLevel := map[any]int{}
	for _, l := range lines {
		byLevel[l["level"]]++
	}
	// ~2.5 s of attempts every 50-100 ms: the first at error, one more
	// per second, the rest at debug.
	if lines[0]["level"] != "error" || byLevel["error"] < 2 || byLevel["error"] > 4 || byLevel["debug"] < 3 {
		t.Fatalf("refusals by level %v (first %v), want the first and about one per second at error, the rest at debug", byLevel, lines[0]["level"])
	}
	if lines[0]["retry_in"] == nil || !strings.HasSuffix(lines[0]["retry_in"].(string), "ms") {
		t.Fatalf("retry_in = %v, want a duration with its unit", lines[0]["retry_in"])
	}
}

// Behind a transaction-mode PgBouncer the series locks would exclude
// nothing: a Store that relies on its session refuses it with
// ErrBehindPooler, whether the pooler drops the startup parameters
// silently (the tests' PgBouncer ignores them) or refuses one; a Store
// that does not (fleetctl's) works through it.
func TestSessionStoreRefusesATransactionPooler(t *testing.T) {
	pooled := testenv.ThroughPgBouncer(t, testenv.NewDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := store.Open(ctx, pooled, store.Config{SessionState: true})
	if !errors.Is(err, store.ErrBehindPooler) || !strings.Contains(err.Error(), "statement_timeout is 0 ms, 30000 ms were asked for") ||
		time.Since(start) > 5*time.Second {
		t.Fatalf("Open through PgBouncer = %v after %s, want ErrBehindPooler at once, saying what was dropped", err, time.Since(start))
	}
	_, err = store.Open(ctx, pooled+"&lock_timeout=1000", store.Config{})
	if !errors.Is(err, store.ErrBehindPooler) || !strings.Contains(err.Error(), "unsupported startup parameter") {
		t.Fatalf("Open through PgBouncer with a parameter it refuses = %v, want ErrBehindPooler", err)
	}
	db, err := store.Open(ctx, pooled, store.Config{})
	if err != nil {
		t.Fatalf("Open through PgBouncer without SessionState: %v", err)
	}
	defer db.Close(ctx)
	if _, err := db.ServerLimits(ctx); err != nil {
		t.Fatalf("a statement through PgBouncer: %v", err)
	}
}

// In pooler mode a Store works through a transaction-mode PgBouncer: no
// prepared statements, and each transaction sets its own timeouts (the
// pooler drops startup parameters): a write blocked by a lock is cancelled
// by the server at the statement timeout.
func TestPoolerModeWorksThroughPgBouncer(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	pooled := testenv.ThroughPgBouncer(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, pooled, store.Config{Pooler: true, SessionState: true, StatementTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open in pooler mode through PgBouncer: %v", err)
	}
	defer s.Close(ctx)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate through PgBouncer: %v", err)
	}
	for range 3 { // the same statements again: no prepared statement to collide
		if err := s.InTx(ctx, func(tx *store.Tx) error { _, err := tx.WriteBars(ctx, bars("POOL", 5)); return err }); err != nil {
			t.Fatalf("write through PgBouncer: %v", err)
		}
		tails, err := s.Tails(ctx, []market.Series{{Symbol: "POOL", Interval: market.Interval1d}})
		if err != nil || len(tails) != 1 {
			t.Fatalf("Tails through PgBouncer = %v, %v", tails, err)
		}
	}
	admin := testenv.Connect(t, dbURL)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE bars IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.InTx(ctx, func(tx *store.Tx) error { _, err := tx.WriteBars(ctx, bars("POOL", 6)); return err })
	if store.SQLState(err) != store.CodeQueryCanceled || time.Since(start) > 10*time.Second {
		t.Fatalf("a write blocked by a lock: %v after %s, want the server's statement timeout (57014) after about 1s", err, time.Since(start))
	}
}
