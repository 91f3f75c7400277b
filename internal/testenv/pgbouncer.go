package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgbouncerScript starts the tests' PgBouncer; path from the module root.
const pgbouncerScript = "scripts/pgbouncer.sh"

// EnvPgBouncerURL names the variable that gives the tests' PgBouncer (a
// transaction-mode pooler in front of AdminURL's server).
const EnvPgBouncerURL = "MARKETFLEET_TEST_PGBOUNCER_URL"

// PgBouncerURL returns the URL of database "postgres" through a PgBouncer
// in transaction mode in front of AdminURL's server: $MARKETFLEET_TEST_PGBOUNCER_URL
// (make test sets it), else what scripts/pgbouncer.sh starts (it installs
// Debian's pgbouncer as root or via sudo). It fails the test, saying what to
// do, when there is none.
func PgBouncerURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvPgBouncerURL); u != "" {
		return u
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, pgbouncerScript), "up", AdminURL())
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testenv: %s: %v\n%s\nInstall Debian's pgbouncer package (the script does, as root or via sudo) "+
			"or set %s", pgbouncerScript, err, bytes.TrimSpace(stderr.Bytes()), EnvPgBouncerURL)
	}
	return string(bytes.TrimSpace(out))
}

// ThroughPgBouncer returns dbURL's database through the tests' PgBouncer.
func ThroughPgBouncer(t testing.TB, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", dbURL, err)
	}
	return withDatabase(t, PgBouncerURL(t), cfg.Database)
}
