package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/internal/testenv"
	"marketfleet/store"
)

// TestVerifyFullConnectsOnlyToTheTrustedServer: PostgreSQL with TLS on, a
// certificate from a test CA. With sslmode=verify-full and that CA the
// worker's session is encrypted; with another CA the connection fails
// closed at once (ErrUntrustedServer), without falling back to plaintext.
func TestVerifyFullConnectsOnlyToTheTrustedServer(t *testing.T) {
	ca, other := testenv.NewCA(t, "marketfleet-pg-ca"), testenv.NewCA(t, "someone-else")
	pg := testenv.NewScratchPostgres(t, testenv.ScratchTLSSettings(t, ca)...)
	url := func(root string) string {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=%s", pg.Port, root)
	}
	ctx := context.Background()

	s, err := store.Open(ctx, url(ca.CertPEM), store.Config{ApplicationName: "marketfleet-worker/tls-test"})
	if err != nil {
		t.Fatalf("verify-full with the server's CA: %v", err)
	}
	defer s.Close(ctx)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var encrypted bool
	if err := admin.QueryRow(ctx, `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name = 'marketfleet-worker/tls-test'`).Scan(&encrypted); err != nil || !encrypted {
		t.Fatalf("the worker's session: ssl = %v (%v), want an encrypted session", encrypted, err)
	}

	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	bad, err := store.Open(octx, url(other.CertPEM), store.Config{})
	if err == nil {
		bad.Close(ctx)
		t.Fatal("verify-full with another CA connected")
	}
	if !errors.Is(err, store.ErrUntrustedServer) || time.Since(start) > 5*time.Second {
		t.Fatalf("another CA: %v after %s, want ErrUntrustedServer at once", err, time.Since(start))
	}
}
