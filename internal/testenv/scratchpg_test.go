package testenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchStepTimer returns a function that logs how long the step since its
// previous call took.
func scratchStepTimer(t *testing.T) func(step string) {
	last := time.Now()
	return func(step string) {
		now := time.Now()
		t.Logf("step %-40s %v", step, now.Sub(last).Round(time.Millisecond))
		last = now
	}
}

// scratchConnect opens a connection to url, closed when t ends.
func scratchConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// scratchRows returns the notes in scratch_probe, in id order.
func scratchRows(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT note FROM scratch_probe ORDER BY id")
	if err != nil {
		t.Fatalf("select from scratch_probe: %v", err)
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read scratch_probe: %v", err)
	}
	return notes
}

// scratchStartTime returns pg_postmaster_start_time() of the server behind conn.
func scratchStartTime(t *testing.T, conn *pgx.Conn) time.Time {
	t.Helper()
	var ts time.Time
	if err := conn.QueryRow(context.Background(), "SELECT pg_postmaster_start_time()").Scan(&ts); err != nil {
		t.Fatalf("pg_postmaster_start_time: %v", err)
	}
	return ts
}

// scratchLogSince returns what the server logged after offset.
func scratchLogSince(t *testing.T, pg *ScratchPostgres, offset int64) string {
	t.Helper()
	b, err := os.ReadFile(pg.LogPath())
	if err != nil {
		t.Fatalf("read server log: %v", err)
	}
	return string(b[offset:])
}

func TestScratchPostgres(t *testing.T) {
	// Registered before the scratch server, so it runs after the server's
	// own cleanup (cleanups run last in, first out).
	var dataDir string
	var port int
	step := scratchStepTimer(t)
	t.Cleanup(func() {
		step("cleanup (close conns, stop immediate, delete)")
		if dataDir == "" {
			return
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("data directory %s survived the cleanup (stat: %v)", dataDir, err)
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("port %d still accepts connections after the cleanup", port)
		}
	})
	ctx := context.Background()

	pg := NewScratchPostgres(t, "max_connections=20")
	dataDir, port = pg.DataDir, pg.Port
	step("NewScratchPostgres(max_connections=20)")
	if port == 5432 {
		t.Fatalf("scratch server on the shared port 5432")
	}
	want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if pg.URL() != want {
		t.Errorf("URL() = %q, want %q", pg.URL(), want)
	}

	conn := scratchConnect(t, pg.URL())
	var maxConns, dir, listen string
	if err := conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConns); err != nil {
		t.Fatalf("SHOW max_connections: %v", err)
	}
	if maxConns != "20" {
		t.Errorf("max_connections = %s, want 20", maxConns)
	}
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatalf("SHOW data_directory: %v", err)
	}
	if dir != pg.DataDir {
		t.Errorf("data_directory = %s, want %s", dir, pg.DataDir)
	}
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatalf("SHOW listen_addresses: %v", err)
	}
	if listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %s, want 127.0.0.1", listen)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE scratch_probe (id int PRIMARY KEY, note text NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO scratch_probe VALUES (1, 'before fast restart')"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	started := scratchStartTime(t, conn)
	step("checks, create table, insert row 1")

	pg.Restart("fast")
	step(`Restart("fast")`)
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Errorf("a connection from before Restart(fast) still works")
	}
	conn = scratchConnect(t, pg.URL())
	if got := scratchRows(t, conn); strings.Join(got, "|") != "before fast restart" {
		t.Errorf("after Restart(fast): rows %q, want [before fast restart]", got)
	}
	if restarted := scratchStartTime(t, conn); !restarted.After(started) {
		t.Errorf("after Restart(fast): postmaster start time %v, not after %v", restarted, started)
	} else {
		started = restarted
	}
	// Committed, WAL flushed, but not checkpointed: only crash recovery
	// can bring it back after an immediate stop.
	if _, err := conn.Exec(ctx, "INSERT INTO scratch_probe VALUES (2, 'before immediate restart')"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	step("checks, insert row 2")

	logStart := scratchFileSize(pg.LogPath())
	pg.Restart("immediate")
	step(`Restart("immediate")`)
	if log := scratchLogSince(t, pg, logStart); !strings.Contains(log, "automatic recovery in progress") {
		t.Errorf("after Restart(immediate): no crash recovery in the server log:\n%s", log)
	}
	conn = scratchConnect(t, pg.URL())
	if got := scratchRows(t, conn); strings.Join(got, "|") != "before fast restart|before immediate restart" {
		t.Errorf("after Restart(immediate): rows %q, want both", got)
	}
	if restarted := scratchStartTime(t, conn); !restarted.After(started) {
		t.Errorf("after Restart(immediate): postmaster start time %v, not after %v", restarted, started)
	}
	step("checks")

	pg.Stop("fast")
	step(`Stop("fast")`)
	if err := scratchPing(pg.URL(), 2*time.Second); err == nil {
		t.Errorf("server still answers after Stop(fast)")
	}
	pg.Start()
	step("Start()")
	conn = scratchConnect(t, pg.URL())
	if got := scratchRows(t, conn); len(got) != 2 {
		t.Errorf("after Stop(fast)+Start: rows %q, want 2", got)
	}

	logStart = scratchFileSize(pg.LogPath())
	pg.Stop("immediate")
	step(`Stop("immediate")`)
	pg.Start()
	step("Start() after immediate stop")
	if log := scratchLogSince(t, pg, logStart); !strings.Contains(log, "automatic recovery in progress") {
		t.Errorf("after Stop(immediate)+Start: no crash recovery in the server log:\n%s", log)
	}
	conn = scratchConnect(t, pg.URL())
	if got := scratchRows(t, conn); len(got) != 2 {
		t.Errorf("after Stop(immediate)+Start: rows %q, want 2", got)
	}
	step("checks")
}

func TestScratchPostgresBinDir(t *testing.T) {
	lib := t.TempDir()
	if _, err := scratchBinDir(lib); err == nil ||
		!strings.Contains(err.Error(), "PostgreSQL server binaries not found under "+lib+"/*/bin: "+
			"install the Debian package postgresql (scripts/postgres.sh up does)") {
		t.Fatalf("empty lib dir: err = %v", err)
	}
	for _, v := range []string{"9.6", "15", "16", "17"} {
		bin := filepath.Join(lib, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		progs := []string{"initdb", "pg_ctl", "postgres"}
		if v == "17" {
			progs = progs[:2] // client-only install: no server
		}
		for _, prog := range progs {
			if err := os.WriteFile(filepath.Join(bin, prog), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := scratchBinDir(lib)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lib, "16", "bin"); got != want {
		t.Errorf("newest bin dir = %s, want %s", got, want)
	}
}

func TestScratchPostgresConf(t *testing.T) {
	got, err := scratchConf([]string{"max_connections=20", `search_path=a's\b`, "unix_socket_directories="})
	if err != nil {
		t.Fatal(err)
	}
	want := "max_connections = '20'\nsearch_path = 'a''s\\\\b'\nunix_socket_directories = ''\n"
	if got != want {
		t.Errorf("scratchConf = %q, want %q", got, want)
	}
	for _, bad := range []string{"max_connections", "=1", "bad name=1", "x=1\ny=2"} {
		if _, err := scratchConf([]string{bad}); err == nil {
			t.Errorf("scratchConf(%q) accepted", bad)
		}
	}
}

func TestScratchPostgresSocketDir(t *testing.T) {
	if got := scratchSocketDir("/tmp/marketfleet-pg-123", 54321); got != "/tmp/marketfleet-pg-123" {
		t.Errorf("short dir: socket dir %q", got)
	}
	long := "/" + strings.Repeat("d", 96) // 97 + len("/.s.PGSQL.54321") = 112 > 107
	if got := scratchSocketDir(long, 54321); got != "" {
		t.Errorf("long dir: socket dir %q, want none", got)
	}
	edge := "/" + strings.Repeat("d", 91) // exactly 107
	if got := scratchSocketDir(edge, 54321); got != edge {
		t.Errorf("107-byte socket path: socket dir %q, want %q", got, edge)
	}
}
