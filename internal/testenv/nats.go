package testenv

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServer is an in-process nats-server with JetStream on file storage.
type NATSServer struct {
	t        testing.TB
	opts     server.Options
	srv      *server.Server
	StoreDir string
}

// NATS starts a JetStream server on a random loopback port with a temporary
// store directory. It is shut down when t ends.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	n := &NATSServer{t: t, StoreDir: t.TempDir()}
	n.opts = server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  n.StoreDir,
		NoLog:     true,
		NoSigs:    true,
	}
	n.start()
	t.Cleanup(n.Shutdown)
	return n
}

func (n *NATSServer) start() {
	n.t.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("testenv: new nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatalf("testenv: nats-server not ready after 10s")
	}
	// Keep the port across restarts so clients can reconnect.
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	n.srv = srv
}

// URL is the client URL of the server.
func (n *NATSServer) URL() string { return n.srv.ClientURL() }

// Shutdown stops the server; its store directory survives for Restart.
func (n *NATSServer) Shutdown() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// Restart stops the server and starts it again on the same port and store.
func (n *NATSServer) Restart() {
	n.t.Helper()
	n.Shutdown()
	n.start()
}

// Connect returns a client connection and a JetStream handle, closed when
// the test ends.
func (n *NATSServer) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.Name("marketfleet-test"))
	if err != nil {
		t.Fatalf("testenv: connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	return nc, js
}

// NATSWith starts an in-process nats-server with opts (authentication,
// TLS, JetStream as the test needs), on a random loopback port, without
// logs or signal handling, and returns its client URL (tls:// when opts
// require TLS). It is shut down when t ends.
func NATSWith(t testing.TB, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testenv: new nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("testenv: nats-server not ready after 10s")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if opts.TLS {
		return "tls://" + srv.Addr().String()
	}
	return srv.ClientURL()
}

// TLSNATS starts a JetStream server that speaks only TLS, with a
// certificate for 127.0.0.1 from ca, and one user, and returns its URL.
func TLSNATS(t testing.TB, ca *CA, user, password string) string {
	t.Helper()
	cert, key := ca.Issue(t, "nats-server", "127.0.0.1")
	return NATSWith(t, &server.Options{JetStream: true, TLS: true, TLSConfig: TLSConfig(t, cert, key), TLSTimeout: 2,
		Username: user, Password: password})
}
