package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
)

// tlsNATS runs an in-process JetStream server that speaks only TLS, with a
// certificate for 127.0.0.1 from ca, and a user/password.
func tlsNATS(t *testing.T, ca *testenv.CA) string {
	t.Helper()
	cert, key := ca.Issue(t, "nats-server", "127.0.0.1")
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		TLS: true, TLSConfig: testenv.TLSConfig(t, cert, key), TLSTimeout: 2,
		Username: "fleet", Password: "tls-test-secret"}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return fmt.Sprintf("tls://127.0.0.1:%d", opts.Port)
}

// TestNATSTLSTrustsOnlyThePinnedCA: with FLEET_NATS_CA the client verifies
// the server against that CA alone. The right CA connects; another CA, or
// none (the system's roots), fails closed at once instead of retrying.
func TestNATSTLSTrustsOnlyThePinnedCA(t *testing.T) {
	ca, other := testenv.NewCA(t, "marketfleet-test-ca"), testenv.NewCA(t, "someone-else")
	url := tlsNATS(t, ca)
	auth := NATSAuth{User: "fleet", Password: "tls-test-secret"}

	good := auth
	good.CA = ca.CertPEM
	nc, _, err := ConnectNATS(context.Background(), Common{NATSURL: url, NATSAuth: good}, "tls-test", zerolog.Nop())
	if err != nil {
		t.Fatalf("with the pinned CA: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("connected without TLS")
	}
	nc.Close()

	for name, c := range map[string]string{"another CA": other.CertPEM, "no CA (system roots)": ""} {
		bad := auth
		bad.CA = c
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		nc, _, err := ConnectNATS(ctx, Common{NATSURL: url, NATSAuth: bad}, "tls-test", zerolog.Nop())
		cancel()
		if err == nil {
			nc.Close()
			t.Fatalf("%s: connected", name)
		}
		if took := time.Since(start); took > 5*time.Second || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v after %s, want a certificate error at once", name, err, took)
		}
	}

	// A wrong password is refused at once too, and never printed.
	wrong := good
	wrong.Password = "canary-wrong-password"
	_, _, err = ConnectNATS(context.Background(), Common{NATSURL: url, NATSAuth: wrong}, "tls-test", zerolog.Nop())
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestNATSAuthValidate(t *testing.T) {
	for _, tc := range []struct {
		a    NATSAuth
		want string // "" valid
	}{
		{NATSAuth{}, ""},
		{NATSAuth{User: "u", Password: "p"}, ""},
		{NATSAuth{Token: "t", CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}, ""},
		{NATSAuth{User: "u"}, "FLEET_NATS_PASSWORD"},
		{NATSAuth{User: "u", Password: "p", Token: "t"}, "at most one"},
		{NATSAuth{NKey: "seed", Creds: "x.creds"}, "at most one"},
		{NATSAuth{Cert: "c.pem"}, "FLEET_NATS_KEY"},
	} {
		err := tc.a.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.a, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error naming %s", tc.a, err, tc.want)
		case err != nil && (strings.Contains(err.Error(), "=p") || strings.Contains(err.Error(), "=t")):
			t.Errorf("%+v: the error quotes a secret: %v", tc.a, err)
		}
	}
	if _, err := (NATSAuth{CA: "/nonexistent/ca.pem"}).Options(); err == nil || !strings.Contains(err.Error(), "FLEET_NATS_CA") {
		t.Errorf("missing CA file: %v", err)
	}
}
