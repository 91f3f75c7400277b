package testenv

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// proxyIOTimeout bounds every read or write a test expects to succeed.
const proxyIOTimeout = 5 * time.Second

// proxyVerifyNoLeaks fails t if goroutines started during t outlive its
// cleanups. Call it first so that its cleanup runs last.
func proxyVerifyNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// proxyEcho is a loopback TCP server that writes back what it reads and
// counts the connections and bytes it receives.
type proxyEcho struct {
	ln       net.Listener
	wg       sync.WaitGroup
	conns    atomic.Int64
	received atomic.Int64

	mu   sync.Mutex
	open map[net.Conn]struct{}
}

func newProxyEcho(t *testing.T) *proxyEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo server: listen: %v", err)
	}
	e := &proxyEcho{ln: ln, open: make(map[net.Conn]struct{})}
	e.wg.Go(e.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		e.mu.Lock()
		for c := range e.open {
			_ = c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *proxyEcho) addr() string { return e.ln.Addr().String() }

func (e *proxyEcho) accept() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.conns.Add(1)
		e.mu.Lock()
		e.open[c] = struct{}{}
		e.mu.Unlock()
		e.wg.Go(func() { e.echo(c) })
	}
}

func (e *proxyEcho) echo(c net.Conn) {
	defer func() {
		e.mu.Lock()
		delete(e.open, c)
		e.mu.Unlock()
		_ = c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		e.received.Add(int64(n))
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proxyDial connects to addr; the connection is closed when t ends.
func proxyDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, proxyIOTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// proxyRoundTrip sends msg on c and fails t unless the same bytes come back.
func proxyRoundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(proxyIOTimeout)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// proxyExpectTimeout writes msg on c and fails t unless a read with a 300ms
// deadline times out without data.
func proxyExpectTimeout(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	n, err := c.Read(make([]byte, 64))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read while blackholed = %d bytes, %v; want a timeout", n, err)
	}
}

// TestProxyPassThrough checks that bytes flow both ways unchanged and that
// the proxy reports its address and the accepted connection.
func TestProxyPassThrough(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	if want := "127.0.0.1:" + strconv.Itoa(p.Port()); p.Addr() != want {
		t.Fatalf("Addr() = %q, want %q", p.Addr(), want)
	}
	c := proxyDial(t, p.Addr())
	proxyRoundTrip(t, c, "hello")
	proxyRoundTrip(t, c, "again")
	if got := p.Accepted(); got != 1 {
		t.Fatalf("Accepted() = %d, want 1", got)
	}
	if got := e.received.Load(); got != 10 {
		t.Fatalf("echo server received %d bytes, want 10", got)
	}
}

// TestProxyLatency checks that SetLatency delays a round trip by at least
// the latency in each direction.
func TestProxyLatency(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	c := proxyDial(t, p.Addr())
	proxyRoundTrip(t, c, "warm-up")

	const d = 100 * time.Millisecond
	p.SetLatency(d)
	start := time.Now()
	proxyRoundTrip(t, c, "ping")
	// The request and the echo are each delayed by d.
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip with latency %v took %v, want >= %v", d, rtt, 2*d)
	}
}

// TestProxyLatencyKeepsOrder streams 1 MiB in small writes through a
// delayed proxy and checks that it comes back unchanged and in order.
func TestProxyLatencyKeepsOrder(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	p.SetLatency(5 * time.Millisecond)
	c := proxyDial(t, p.Addr())
	if err := c.SetDeadline(time.Now().Add(4 * proxyIOTimeout)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	want := make([]byte, 1<<20)
	_, _ = rand.Read(want)
	written := make(chan error, 1)
	go func() {
		var err error
		for rest := want; len(rest) > 0 && err == nil; rest = rest[min(len(rest), 1000):] {
			_, err = c.Write(rest[:min(len(rest), 1000)])
		}
		written <- err
	}()
	got := make([]byte, len(want))
	_, rerr := io.ReadFull(c, got)
	if err := <-written; err != nil {
		t.Fatalf("write: %v", err)
	}
	if rerr != nil {
		t.Fatalf("read: %v", rerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echoed stream differs from the one sent: bytes reordered or lost")
	}
}

// TestProxyReset checks that Reset makes the client's next read fail with a
// reset (not a timeout or a clean EOF), is counted, and that new connections
// still work.
func TestProxyReset(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	c := proxyDial(t, p.Addr())
	proxyRoundTrip(t, c, "before")

	p.Reset()
	if err := c.SetReadDeadline(time.Now().Add(proxyIOTimeout)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	_, err := c.Read(make([]byte, 64))
	var ne net.Error
	switch {
	case err == nil:
		t.Fatalf("read after Reset succeeded, want an error")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("read after Reset timed out, want the connection reset")
	case errors.Is(err, io.EOF):
		t.Fatalf("read after Reset got a clean EOF, want an abrupt reset")
	}
	t.Logf("read after Reset: %v", err)
	if got := p.Resets(); got != 1 {
		t.Fatalf("Resets() = %d, want 1", got)
	}

	proxyRoundTrip(t, proxyDial(t, p.Addr()), "after")
	if got := p.Accepted(); got != 2 {
		t.Fatalf("Accepted() = %d, want 2", got)
	}
	if got := p.Resets(); got != 1 {
		t.Fatalf("Resets() after a new connection = %d, want 1", got)
	}
}

// TestProxyBlackhole checks that nothing crosses a blackholed proxy on an
// existing or a new connection, and that a new connection works after
// Restore.
func TestProxyBlackhole(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	c := proxyDial(t, p.Addr())
	proxyRoundTrip(t, c, "before")
	received, conns := e.received.Load(), e.conns.Load()

	p.Blackhole()
	proxyExpectTimeout(t, c, "lost")
	proxyExpectTimeout(t, proxyDial(t, p.Addr()), "new")
	if got := e.received.Load(); got != received {
		t.Fatalf("echo server received %d bytes during the blackhole", got-received)
	}
	if got := e.conns.Load(); got != conns {
		t.Fatalf("echo server got %d connections during the blackhole", got-conns)
	}
	if got := p.Accepted(); got != 2 {
		t.Fatalf("Accepted() = %d, want 2 (blackholed connections are still accepted)", got)
	}

	p.Restore()
	proxyRoundTrip(t, proxyDial(t, p.Addr()), "after")
}

// TestProxyConcurrentControl drives every fault from one goroutine while
// clients connect from others; the race detector checks the locking, and the
// proxy must still forward once the faults stop.
func TestProxyConcurrentControl(t *testing.T) {
	proxyVerifyNoLeaks(t)
	e := newProxyEcho(t)
	p := NewProxy(t, e.addr())
	stop := make(chan struct{})
	var control, clients sync.WaitGroup
	control.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			p.SetLatency(time.Duration(i%3) * time.Millisecond)
			p.Blackhole()
			p.Restore()
			if i%5 == 0 {
				p.Reset()
			}
			_, _ = p.Accepted(), p.Resets()
		}
	})
	const dials = 40
	var connected atomic.Int64
	for range 4 {
		clients.Go(func() {
			for range dials / 4 {
				// Errors are expected: the control goroutine resets links,
				// even while the client is still connecting.
				c, err := net.DialTimeout("tcp", p.Addr(), proxyIOTimeout)
				if err != nil {
					continue
				}
				connected.Add(1)
				_ = c.SetDeadline(time.Now().Add(time.Second))
				_, _ = c.Write([]byte("x"))
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
			}
		})
	}
	clients.Wait()
	close(stop)
	control.Wait()

	p.SetLatency(0)
	p.Restore()
	proxyRoundTrip(t, proxyDial(t, p.Addr()), "still works")
	// Connections are accepted in order, so all earlier ones were accepted
	// before the echoed one.
	if got, low := p.Accepted(), int(connected.Load())+1; got < low || got > dials+1 {
		t.Fatalf("Accepted() = %d, want %d to %d", got, low, dials+1)
	}
}

// TestProxyCleanup uses a proxy in a subtest, with latency, a blackhole and
// held data, and checks that the end of the subtest closed the client's
// connection and the listener and left no goroutine behind.
func TestProxyCleanup(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	var addr string
	var client net.Conn
	ok := t.Run("use", func(t *testing.T) {
		e := newProxyEcho(t)
		p := NewProxy(t, e.addr())
		addr = p.Addr()
		p.SetLatency(10 * time.Millisecond)
		c, err := net.DialTimeout("tcp", addr, proxyIOTimeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		client = c
		proxyRoundTrip(t, client, "open")
		p.Blackhole()
		hung := proxyDial(t, addr)
		_, _ = client.Write([]byte("held"))
		_, _ = hung.Write([]byte("held"))
	})
	if client != nil {
		defer func() { _ = client.Close() }()
	}
	if !ok {
		t.FailNow()
	}

	if err := client.SetReadDeadline(time.Now().Add(proxyIOTimeout)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	n, err := client.Read(make([]byte, 64))
	var ne net.Error
	if err == nil || n != 0 || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read after cleanup = %d bytes, %v; want the connection closed", n, err)
	}
	if c, err := net.DialTimeout("tcp", addr, proxyIOTimeout); err == nil {
		_ = c.Close()
		t.Fatalf("dial %s after cleanup succeeded; the listener is still open", addr)
	}
	goleak.VerifyNone(t, opt)
}
