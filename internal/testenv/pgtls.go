package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// ScratchTLSSettings issues a server certificate from ca for 127.0.0.1 and
// returns the NewScratchPostgres settings that turn TLS on with it. The
// files go to a directory the scratch server's OS user can read, the key
// owned by that user with mode 0600, as PostgreSQL requires.
func ScratchTLSSettings(t testing.TB, ca *CA) []string {
	t.Helper()
	cert, key := ca.Issue(t, "postgres-server", "127.0.0.1")
	dir, err := os.MkdirTemp("", "marketfleet-pgtls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dstCert, dstKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for _, f := range [][2]string{{cert, dstCert}, {key, dstKey}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dstCert, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		uid, gid, err := scratchLookupIDs(scratchOSUser)
		if err != nil {
			t.Fatalf("testenv: the scratch server runs as %s: %v", scratchOSUser, err)
		}
		if err := os.Chown(dstKey, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"ssl=on", "ssl_cert_file=" + dstCert, "ssl_key_file=" + dstKey}
}
