package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterWait bounds every wait on the cluster: forming, electing a
// JetStream meta leader, a node restarting, a stream electing a leader.
const clusterWait = 20 * time.Second

// clusterName is the name of every test cluster (one per NATSCluster; they
// never route to each other since their ports differ).
const clusterName = "marketfleet-test"

// NATSCluster is n in-process nats-servers forming one JetStream cluster
// (routes on loopback, file storage in temp dirs, server names "n1".."nN").
// Client and route ports are fixed when the cluster is created, so a node
// stopped with Shutdown comes back on the same ports with Restart.
type NATSCluster struct {
	t     testing.TB
	mu    sync.Mutex // guards nodes[i].srv
	nodes []*clusterNode
}

// clusterNode is one member of a NATSCluster.
type clusterNode struct {
	name string
	opts server.Options // template; each start gets its own copy
	srv  *server.Server // nil while stopped
}

// NewNATSCluster starts n JetStream servers routed to each other and waits
// until every one is ready, fully routed, and JetStream has a meta leader
// that answers a client's API calls. The cluster is shut down when t ends.
func NewNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("testenv: NewNATSCluster needs at least 1 node, got %d", n)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatalf("testenv: pick ports for the nats cluster: %v", err)
	}
	c := &NATSCluster{t: t}
	for i := range n {
		clientPort, routePort := ports[2*i], ports[2*i+1]
		var routes []*url.URL
		for j := range n {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats-route", Host: loopback(ports[2*j+1])})
			}
		}
		c.nodes = append(c.nodes, &clusterNode{
			name: "n" + strconv.Itoa(i+1),
			opts: server.Options{
				ServerName: "n" + strconv.Itoa(i+1),
				Host:       "127.0.0.1",
				Port:       clientPort,
				JetStream:  true,
				StoreDir:   t.TempDir(),
				NoLog:      true,
				NoSigs:     true,
				Cluster: server.ClusterOpts{
					Name: clusterName,
					Host: "127.0.0.1",
					Port: routePort,
				},
				Routes: routes,
			},
		})
	}
	t.Cleanup(c.shutdownAll)
	for _, node := range c.nodes {
		c.startNode(node)
	}
	c.waitRouted(c.nodes...)
	c.waitMetaLeader()
	return c
}

// URLs is the comma-separated client URLs of all nodes, running or not, in
// the form NATS_URL and nats.Connect accept.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		urls[i] = "nats://" + loopback(node.opts.Port)
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connection to all nodes and a JetStream handle,
// closed when the test ends. The client reconnects without limit, so it
// rides out nodes being shut down and restarted.
func (c *NATSCluster) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URLs(),
		nats.Name("marketfleet-test"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("testenv: connect to nats cluster %s: %v", c.URLs(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream on nats cluster: %v", err)
	}
	return nc, js
}

// StreamLeader returns the server name of the stream's leader, from the
// stream info's Cluster.Leader. It waits for an election in progress (up to
// 20s) and fails t if the stream has no leader by then.
func (c *NATSCluster) StreamLeader(t testing.TB, js jetstream.JetStream, stream string) string {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		if err == nil {
			var info *jetstream.StreamInfo
			info, err = s.Info(ctx)
			if err == nil {
				if info.Cluster != nil && info.Cluster.Leader != "" {
					cancel()
					return info.Cluster.Leader
				}
				err = fmt.Errorf("stream info has no cluster leader")
			}
		}
		cancel()
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("testenv: stream %q has no leader after %s (last: %v); cluster: %s",
				stream, clusterWait, last, c.state())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Shutdown stops the node named name ("n1".."nN"); its store directory and
// ports are kept for Restart. Stopping a stopped node does nothing.
func (c *NATSCluster) Shutdown(name string) {
	c.t.Helper()
	c.stopNode(c.node(name))
}

// Restart starts the node named name again with the same store directory and
// ports (stopping it first if it is running), and waits until it is ready,
// routed to every other running node and current with the JetStream meta
// group. Its streams catch up on their own; tests wait for that themselves.
func (c *NATSCluster) Restart(name string) {
	c.t.Helper()
	node := c.node(name)
	c.stopNode(node)
	c.startNode(node)
	c.waitRouted(node)
	c.waitMetaCurrent(node)
}

// node returns the node named name or fails the test.
func (c *NATSCluster) node(name string) *clusterNode {
	c.t.Helper()
	for _, node := range c.nodes {
		if node.name == name {
			return node
		}
	}
	names := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		names[i] = node.name
	}
	c.t.Fatalf("testenv: nats cluster has no node %q (nodes: %s)", name, strings.Join(names, ", "))
	return nil
}

// startNode starts node and waits until it accepts client connections.
func (c *NATSCluster) startNode(node *clusterNode) {
	c.t.Helper()
	opts := node.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		c.t.Fatalf("testenv: new nats-server %s: %v", node.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(clusterWait) {
		srv.Shutdown()
		c.t.Fatalf("testenv: nats-server %s not ready for connections on %s after %s "+
			"(is the port taken by another process?)", node.name, loopback(node.opts.Port), clusterWait)
	}
	c.mu.Lock()
	node.srv = srv
	c.mu.Unlock()
}

// stopNode shuts node down and waits until it has stopped.
func (c *NATSCluster) stopNode(node *clusterNode) {
	c.mu.Lock()
	srv := node.srv
	node.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// shutdownAll stops every running node.
func (c *NATSCluster) shutdownAll() {
	for _, node := range c.nodes {
		c.stopNode(node)
	}
}

// running returns the servers currently running.
func (c *NATSCluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var srvs []*server.Server
	for _, node := range c.nodes {
		if node.srv != nil {
			srvs = append(srvs, node.srv)
		}
	}
	return srvs
}

// waitRouted waits until each of nodes has a route to every other running
// node.
func (c *NATSCluster) waitRouted(nodes ...*clusterNode) {
	c.t.Helper()
	c.waitFor("routes between the nodes", func() error {
		want := len(c.running()) - 1
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, node := range nodes {
			if node.srv == nil {
				return fmt.Errorf("%s is not running", node.name)
			}
			if got := node.srv.NumRemotes(); got < want {
				return fmt.Errorf("%s has routes to %d of %d other nodes", node.name, got, want)
			}
		}
		return nil
	})
}

// waitMetaLeader waits until a node is the JetStream meta leader and a
// client's JetStream API call (AccountInfo) succeeds.
func (c *NATSCluster) waitMetaLeader() {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.Name("marketfleet-test-setup"), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatalf("testenv: connect to nats cluster %s: %v", c.URLs(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("testenv: jetstream on nats cluster: %v", err)
	}
	c.waitFor("a JetStream meta leader", func() error {
		running := c.running()
		var leader *server.Server
		for _, srv := range running {
			if srv.JetStreamIsLeader() {
				leader = srv
			}
		}
		if leader == nil {
			return fmt.Errorf("no node is the JetStream meta leader")
		}
		// Placement needs every peer online with stats at the leader, or
		// an R3 stream created now fails with "no suitable peers".
		if peers := leader.JetStreamClusterPeers(); len(peers) < len(running) {
			return fmt.Errorf("the meta leader sees %d of %d peers", len(peers), len(running))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("JetStream account info: %w", err)
		}
		return nil
	})
}

// waitMetaCurrent waits until node is current with the JetStream meta group.
func (c *NATSCluster) waitMetaCurrent(node *clusterNode) {
	c.t.Helper()
	c.waitFor(node.name+" to catch up with the JetStream meta group", func() error {
		c.mu.Lock()
		srv := node.srv
		c.mu.Unlock()
		if srv == nil {
			return fmt.Errorf("%s is not running", node.name)
		}
		if !srv.JetStreamIsCurrent() {
			return fmt.Errorf("%s is not current", node.name)
		}
		return nil
	})
}

// waitFor polls cond until it returns nil, failing the test with its last
// error and the cluster's state after clusterWait.
func (c *NATSCluster) waitFor(what string, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testenv: nats cluster: no %s after %s (last: %v); cluster: %s.\n"+
				"The nodes talk over loopback TCP on fixed ports; check that nothing else "+
				"binds them and that the machine is not overloaded.", what, clusterWait, err, c.state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// state describes every node for failure messages.
func (c *NATSCluster) state() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		if node.srv == nil {
			parts[i] = fmt.Sprintf("%s stopped", node.name)
			continue
		}
		parts[i] = fmt.Sprintf("%s client=%s routes=%d meta-leader=%t meta-current=%t",
			node.name, loopback(node.opts.Port), node.srv.NumRemotes(),
			node.srv.JetStreamIsLeader(), node.srv.JetStreamIsCurrent())
	}
	return strings.Join(parts, "; ")
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. All listeners are open at once so no port is returned twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen on a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// loopback is host:port on 127.0.0.1.
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
