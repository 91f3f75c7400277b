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
