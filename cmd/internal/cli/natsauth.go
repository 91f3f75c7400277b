package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"marketfleet/internal/tlsfail"
)

// NATSAuth is how a command proves who it is to NATS and checks the
// server's certificate. At most one of user/password, token, NKey and
// .creds may be set. With FLEET_NATS_CA the connection requires TLS and
// trusts that CA alone (pinned), not the system's.
type NATSAuth struct {
	User     string `envconfig:"FLEET_NATS_USER" desc:"NATS user (with FLEET_NATS_PASSWORD)"`
	Password string `envconfig:"FLEET_NATS_PASSWORD" desc:"NATS password (secret: never printed)"`
	Token    string `envconfig:"FLEET_NATS_TOKEN" desc:"NATS token (secret: never printed)"`
	NKey     string `envconfig:"FLEET_NATS_NKEY" desc:"file holding the NKey seed to sign the server's challenge with"`
	Creds    string `envconfig:"FLEET_NATS_CREDS" desc:".creds file (user JWT and NKey seed) for NATS decentralized auth"`
	CA       string `envconfig:"FLEET_NATS_CA" desc:"PEM file of the CA that signed the server's certificate; set, TLS is required and only this CA is trusted"`
	Cert     string `envconfig:"FLEET_NATS_CERT" desc:"client certificate PEM file for mutual TLS (with FLEET_NATS_KEY)"`
	Key      string `envconfig:"FLEET_NATS_KEY" desc:"client private key PEM file for mutual TLS (with FLEET_NATS_CERT)"`
}

// Validate checks that the settings are consistent; errors name the
// variables, never their values.
func (a NATSAuth) Validate() error {
	methods := 0
	for _, set := range []bool{a.User != "" || a.Password != "", a.Token != "", a.NKey != "", a.Creds != ""} {
		if set {
			methods++
		}
	}
	switch {
	case methods > 1:
		return errors.New("FLEET_NATS_USER/PASSWORD, FLEET_NATS_TOKEN, FLEET_NATS_NKEY, FLEET_NATS_CREDS: set at most one way to authenticate")
	case (a.User == "") != (a.Password == ""):
		return errors.New("FLEET_NATS_USER and FLEET_NATS_PASSWORD: set both or neither")
	case (a.Cert == "") != (a.Key == ""):
		return errors.New("FLEET_NATS_CERT and FLEET_NATS_KEY: set both or neither")
	}
	return nil
}

// Options turns the settings into nats.go options. Files are read here:
// a missing or malformed one is an error naming its variable.
func (a NATSAuth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.NKey != "":
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("FLEET_NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	case a.Creds != "":
		if _, err := os.Stat(a.Creds); err != nil {
			return nil, fmt.Errorf("FLEET_NATS_CREDS: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.CA != "" {
		pem, err := os.ReadFile(a.CA)
		if err != nil {
			return nil, fmt.Errorf("FLEET_NATS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("FLEET_NATS_CA=%s: no PEM certificate in it", a.CA)
		}
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}))
	}
	if a.Cert != "" {
		if _, err := tls.LoadX509KeyPair(a.Cert, a.Key); err != nil {
			return nil, fmt.Errorf("FLEET_NATS_CERT, FLEET_NATS_KEY: %w", err)
		}
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	return opts, nil
}

// permanentNATSError reports whether a connect error will not go away by
// retrying: the server refused the credentials, or its certificate does
// not verify. (A server that refuses the client certificate closes the
// connection after the handshake, which looks like any broken connection:
// that is retried, and logged each time.)
func permanentNATSError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) || tlsfail.Unverified(err)
}
