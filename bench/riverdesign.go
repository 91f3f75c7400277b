package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The River design: River (github.com/riverqueue/river), a job queue in
// PostgreSQL, run by the river-bench binary of the nested module bench/river
// (its own go.mod, so that River never enters marketfleet's). Its jobs do
// the baselines' work (synthetic fetch, one upsert with the worker's
// statement); only the queue differs. A run: buildRiver once, then per run
// on a database marketfleet migrated: riverMigrate, start the processes of
// `river-bench work` (a bare river-bench runs work too) with riverWorkerEnv,
// wait for each to print "ready" on stdout, riverEnqueue, then poll
// riverDrained. Process i's sessions are named bench-river/<i>; each holds
// up to Pool+1 of them (River's LISTEN connection leaves the pool).

// riverSettings is one River configuration of the worker processes. A zero
// field keeps the default: pgxpool's MaxConns (max(4, NumCPU)), 100 workers
// (river-bench's; River has no default), River's FetchCooldown (100ms) and
// FetchPollInterval (1s).
type riverSettings struct {
	// Name labels the design in reports, e.g. "river" (defaults) or
	// "river-tuned"; the processes do not see it.
	Name string
	// Pool is the pgxpool's MaxConns per process (RIVER_POOL). River's
	// LISTEN connection is taken out of the pool (hijacked), so a process
	// can hold Pool+1 sessions.
	Pool int
	// MaxWorkers is the default queue's MaxWorkers (RIVER_MAX_WORKERS).
	MaxWorkers int
	// FetchCooldown and FetchPollInterval are River's Config fields of the
	// same names (RIVER_FETCH_COOLDOWN, RIVER_FETCH_POLL_INTERVAL); River
	// wants both at least 1ms and the poll interval not below the cooldown.
	FetchCooldown, FetchPollInterval time.Duration
}

// riverBuildDir is the nested module, relative to the repository root the
// harness runs from.
const riverBuildDir = "bench/river"

// buildRiver builds the nested module's binary into outDir/river-bench. The
// go command inherits the environment, GOTOOLCHAIN included.
func buildRiver(ctx context.Context, outDir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(outDir, "river-bench"), ".")
	cmd.Dir = riverBuildDir
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build river-bench in %s (run from the repository root): %w\n%s", riverBuildDir, err, out)
	}
	return nil
}

// riverMigrate applies River's migrations to dbURL, a database on which
// marketfleet's own migrations ran.
func riverMigrate(ctx context.Context, bin, dbURL string) error {
	if out, err := riverCommand(ctx, bin, dbURL, "migrate"); err != nil {
		return fmt.Errorf("river-bench migrate: %w\n%s", err, out)
	}
	return nil
}

// riverEnqueue inserts the workload the marketfleet producer enqueues in
// (*env).enqueue: n jobs, job i for symbol B%05d (i), interval 1d, from
// from to from+bars days, with InsertMany by 1,000. from must be a UTC
// midnight (the command line takes a date).
func riverEnqueue(ctx context.Context, bin, dbURL string, n, bars int, from time.Time) error {
	if from.Location() != time.UTC || !from.Equal(from.Truncate(24*time.Hour)) {
		return fmt.Errorf("river enqueue: from %s: want a UTC midnight", from)
	}
	out, err := riverCommand(ctx, bin, dbURL, "insert", "-n", strconv.Itoa(n), "-bars", strconv.Itoa(bars),
		"-from", from.Format(time.DateOnly), "-interval", "1d", "-chunk", "1000")
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("inserted %d\n", n)) {
		return fmt.Errorf("river-bench insert: %v\n%s", err, out)
	}
	return nil
}

// riverCommand runs bin with args and DATABASE_URL in the environment (never
// on the command line, which reports may show).
func riverCommand(ctx context.Context, bin, dbURL string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	return cmd.CombinedOutput()
}

// riverDrained reports whether every River job is finalized: none is
// available, running, scheduled, retryable or pending, only completed,
// discarded or cancelled ones remain. It runs one query on conn, a
// connection the caller keeps open for the whole poll (conn is not safe
// for concurrent use, so not the session sampler's). An empty river_job
// counts as drained: call it after riverEnqueue returns.
func riverDrained(ctx context.Context, conn *pgx.Conn) (done bool, err error) {
	err = conn.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM river_job
		WHERE state NOT IN ('completed', 'discarded', 'cancelled'))`).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("river drained: %w", err)
	}
	return done, nil
}

// riverWorkerEnv is the environment (to append to os.Environ(), as
// startProc does) of worker process i: its sessions are named
// bench-river/<i>, so that sampleSessions counts them with the prefix
// "bench-river/" (appPrefix("river")), whatever s.Name. Every RIVER_
// variable is set, empty for a default, so that none leaks in from the
// harness's environment.
func riverWorkerEnv(dbURL string, i int, s riverSettings, latency time.Duration) []string {
	positive := func(n int) string {
		if n <= 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	duration := func(d time.Duration) string {
		if d <= 0 {
			return ""
		}
		return d.String()
	}
	return []string{
		"DATABASE_URL=" + dbURL,
		fmt.Sprintf("RIVER_APP=bench-river/%d", i),
		"RIVER_POOL=" + positive(s.Pool),
		"RIVER_MAX_WORKERS=" + positive(s.MaxWorkers),
		"RIVER_FETCH_COOLDOWN=" + duration(s.FetchCooldown),
		"RIVER_FETCH_POLL_INTERVAL=" + duration(s.FetchPollInterval),
		"RIVER_LATENCY=" + latency.String(),
	}
}
