package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/testenv"
)

// psqlFile runs a shipped SQL file with psql against url.
func psqlFile(t *testing.T, url, file string, vars ...string) {
	t.Helper()
	args := []string{"-X", "-q", "-d", url, "-f", file}
	for _, v := range vars {
		args = append(args, "-v", v)
	}
	if out, err := exec.Command("psql", args...).CombinedOutput(); err != nil {
		t.Fatalf("psql -f %s: %v\n%s", file, err, out)
	}
}

// TestLeastPrivilegedRoles applies deploy/postgres/roles.sql on a scratch
// cluster, migrates as marketfleet_migrate, applies grants.sql, and runs a
// worker as marketfleet_worker: the fleet works, and the worker's role can
// neither change the schema nor delete data, and is capped at the budget.
func TestLeastPrivilegedRoles(t *testing.T) {
	t.Parallel()
	pg := testenv.NewScratchPostgres(t)
	ctx := context.Background()
	super, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, `CREATE DATABASE marketfleet`); err != nil {
		t.Fatal(err)
	}
	url := func(role string) string {
		return fmt.Sprintf("postgres://%s@127.0.0.1:%d/marketfleet?sslmode=disable", role, pg.Port)
	}
	psqlFile(t, url("postgres"), "../deploy/postgres/roles.sql", "budget=3")

	n := testenv.NATS(t)
	e := newEnvWith(t, n.URL(), url("marketfleet_worker"), n)
	if code, out, errOut := e.runCmd(t, []string{"DATABASE_URL=" + url("marketfleet_migrate")}, "worker", "migrate"); code != 0 {
		t.Fatalf("worker migrate as marketfleet_migrate: exit %d: %s%s", code, out, errOut)
	}
	psqlFile(t, url("marketfleet_migrate"), "../deploy/postgres/grants.sql")

	specs := e.enqueue(t, "2024-01-01", "2024-01-31", symbols("ROLE", 10)...)
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "least", "FLEET_AUTO_MIGRATE=false", "FLEET_DB_RESERVE=0")
	waitDrained(t, e.js(t), 60*time.Second)
	if strings.Contains(w.logs.String(), "42501") || strings.Contains(w.logs.String(), "permission denied") {
		t.Fatalf("the worker's role lacked a right:\n%s", w.logs.String())
	}
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	e.check(t, specs, nil, stopSampling(), 1)

	// The worker's role has what corporate actions, restatements, repairs
	// and audits need (checked in a transaction rolled back: a synthetic
	// run without actions or gaps does not reach these statements).
	tx, err := e.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO corporate_actions (symbol, ex_date, effective_at, kind, numerator, denominator, source)
		 VALUES ('ROLE000', '2024-01-16', '2024-01-16 05:00+00', 'split', 2, 1, 'test')`,
		`INSERT INTO restatements (action_id, "interval") SELECT id, '1d' FROM corporate_actions`,
		`UPDATE restatements SET bars_changed = 1`,
		`INSERT INTO known_holes (symbol, "interval", ts, source) VALUES ('ROLE000', '1d', '2024-01-16', 'test')`,
		`INSERT INTO repairs (symbol, "interval", first_ts, last_ts) VALUES ('ROLE000', '1d', '2024-01-16', '2024-01-16')`,
		`DELETE FROM repairs`,
		`INSERT INTO audits (by_whom, series, expected, stored, missing, gaps, known_holes, took_ms) VALUES ('t', 0, 0, 0, 0, 0, 0, 0)`,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			_ = tx.Rollback(ctx)
			t.Fatalf("marketfleet_worker cannot run %q: %v", stmt, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// The worker's role changes data only through the upserts.
	for _, stmt := range []string{
		`DROP TABLE bars`, `TRUNCATE bars`, `DELETE FROM bars`, `DELETE FROM features`,
		`CREATE TABLE scratch (i int)`, `ALTER TABLE bars ADD COLUMN x int`,
	} {
		if _, err := e.admin.Exec(ctx, stmt); err == nil {
			t.Errorf("marketfleet_worker may run %q", stmt)
		}
	}
	var limit int
	if err := super.QueryRow(ctx, `SELECT rolconnlimit FROM pg_roles WHERE rolname = 'marketfleet_worker'`).Scan(&limit); err != nil || limit != 3 {
		t.Fatalf("marketfleet_worker CONNECTION LIMIT = %d (%v), want the budget 3", limit, err)
	}
}
