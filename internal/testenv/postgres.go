package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvAdminURL names the variable holding the admin URL of the test server.
const EnvAdminURL = "MARKETFLEET_TEST_DATABASE_URL"

// DefaultAdminURL is used when EnvAdminURL is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the URL of a superuser session on the test server.
func AdminURL() string {
	if u := os.Getenv(EnvAdminURL); u != "" {
		return u
	}
	return DefaultAdminURL
}

// Connect opens a plain connection for test assertions (never through the
// store package, so tests see the database as an outsider would). It is
// closed at the end of the test.
func Connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("testenv: parse database URL: %v", err)
	}
	cfg.RuntimeParams["application_name"] = "marketfleet-test"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL is not reachable (%v).\n"+
			"Start it with `scripts/postgres.sh up` (or `make test`, which does), or point %s at a server "+
			"where this user may CREATE DATABASE.", err, EnvAdminURL)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewDatabase creates an empty database for t and returns its URL. The
// database is dropped (with any sessions still in it) when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := Connect(t, AdminURL())
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	name := "mf_" + base + "_" + hex.EncodeToString(suffix)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		c := Connect(t, AdminURL())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, AdminURL(), name)
}

// withDatabase returns adminURL pointing at database name instead.
func withDatabase(t testing.TB, adminURL, name string) string {
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			t.Fatalf("testenv: parse %s: %v", EnvAdminURL, err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return adminURL + " dbname=" + name
}
