package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
)

// TestNATSTLSTrustsOnlyThePinnedCA: with FLEET_NATS_CA the client verifies
// the server against that CA alone. The right CA connects; another CA, or
// none (the system's roots), fails closed at once instead of retrying.
func TestNATSTLSTrustsOnlyThePinnedCA(t *testing.T) {
	ca, other := testenv.NewCA(t, "marketfleet-test-ca"), testenv.NewCA(t, "someone-else")
	url := testenv.TLSNATS(t, ca, "fleet", "tls-test-secret")
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

// TestNATSAuthMethods: a token, an NKey seed and a .creds file (operator
// mode, JWTs signed in the test) each get in; a wrong one is refused at
// once.
func TestNATSAuthMethods(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// NKey: the server knows the public key; the client signs with the seed.
	user, err := nkeys.CreateUser()
	must(err)
	pub, err := user.PublicKey()
	must(err)
	seed, err := user.Seed()
	must(err)
	stranger, err := nkeys.CreateUser()
	must(err)
	strangerSeed, err := stranger.Seed()
	must(err)

	// .creds: operator -> account -> user, the server trusting the operator.
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, err := op.PublicKey()
	must(err)
	opClaims := jwt.NewOperatorClaims(opPub)
	opJWT, err := opClaims.Encode(op)
	must(err)
	trusted, err := jwt.DecodeOperatorClaims(opJWT)
	must(err)
	acct, err := nkeys.CreateAccount()
	must(err)
	acctPub, err := acct.PublicKey()
	must(err)
	acctClaims := jwt.NewAccountClaims(acctPub)
	acctClaims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	acctJWT, err := acctClaims.Encode(op)
	must(err)
	credUser, err := nkeys.CreateUser()
	must(err)
	credPub, err := credUser.PublicKey()
	must(err)
	credSeed, err := credUser.Seed()
	must(err)
	userJWT, err := jwt.NewUserClaims(credPub).Encode(acct)
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, credSeed)
	must(err)
	resolver := &server.MemAccResolver{}
	must(resolver.Store(acctPub, acctJWT))
	// JetStream in operator mode needs a system account.
	sys, err := nkeys.CreateAccount()
	must(err)
	sysPub, err := sys.PublicKey()
	must(err)
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	must(err)
	must(resolver.Store(sysPub, sysJWT))

	for _, tc := range []struct {
		name      string
		opts      *server.Options
		good, bad NATSAuth
	}{
		{"token", &server.Options{JetStream: true, Authorization: "token-test-secret"},
			NATSAuth{Token: "token-test-secret"}, NATSAuth{Token: "canary-wrong-token"}},
		{"nkey", &server.Options{JetStream: true, Nkeys: []*server.NkeyUser{{Nkey: pub}}},
			NATSAuth{NKey: write("user.nk", seed)}, NATSAuth{NKey: write("stranger.nk", strangerSeed)}},
		{"creds", &server.Options{JetStream: true, TrustedOperators: []*jwt.OperatorClaims{trusted}, AccountResolver: resolver, SystemAccount: sysPub},
			NATSAuth{Creds: write("user.creds", creds)}, NATSAuth{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := testenv.NATSWith(t, tc.opts)
			nc, _, err := ConnectNATS(context.Background(), Common{NATSURL: url, NATSAuth: tc.good}, "auth-test", zerolog.Nop())
			if err != nil {
				t.Fatalf("good %s: %v", tc.name, err)
			}
			nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			nc, _, err = ConnectNATS(ctx, Common{NATSURL: url, NATSAuth: tc.bad}, "auth-test", zerolog.Nop())
			if err == nil {
				nc.Close()
				t.Fatalf("bad %s: connected", tc.name)
			}
			if took := time.Since(start); took > 5*time.Second || strings.Contains(err.Error(), "canary") {
				t.Errorf("bad %s: %v after %s, want a refusal at once, without the secret", tc.name, err, took)
			}
		})
	}
}

// TestNATSMutualTLS: a server that verifies client certificates lets in a
// client with FLEET_NATS_CERT/KEY from its CA, and refuses one without.
func TestNATSMutualTLS(t *testing.T) {
	ca := testenv.NewCA(t, "marketfleet-mtls-ca")
	cert, key := ca.Issue(t, "nats-server", "127.0.0.1")
	tc := testenv.TLSConfig(t, cert, key)
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	tc.ClientCAs = x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc.ClientCAs.AppendCertsFromPEM(pem)
	opts := &server.Options{JetStream: true, TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2}
	url := testenv.NATSWith(t, opts)
	clientCert, clientKey := ca.Issue(t, "worker-1")

	good := NATSAuth{CA: ca.CertPEM, Cert: clientCert, Key: clientKey}
	nc, _, err := ConnectNATS(context.Background(), Common{NATSURL: url, NATSAuth: good}, "mtls-test", zerolog.Nop())
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	nc.Close()
	// Refused: the connection never comes up (it is retried until ctx ends).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if nc, _, err := ConnectNATS(ctx, Common{NATSURL: url, NATSAuth: NATSAuth{CA: ca.CertPEM}}, "mtls-test", zerolog.Nop()); err == nil {
		nc.Close()
		t.Fatal("a client without a certificate got in")
	}
}
