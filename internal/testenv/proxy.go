package testenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback listener to a target and
// can inject faults. It is safe for concurrent use.
type Proxy struct {
	t        testing.TB
	target   string
	ln       *net.TCPListener
	ctx      context.Context // cancelled when the proxy closes
	cancel   context.CancelFunc
	wg       sync.WaitGroup // every goroutine of the proxy
	latency  atomic.Int64   // time.Duration
	accepted atomic.Int64
	resets   atomic.Int64
	mu       sync.Mutex
	links    map[*proxyLink]struct{}
	gate     chan struct{} // closed while traffic flows, open while blackholed
	holed    bool
}

// proxyLink is a proxied connection, open while in Proxy.links (under mu).
type proxyLink struct {
	client *net.TCPConn
	server *net.TCPConn  // nil until dialled
	done   chan struct{} // closed when the link closes
}

// proxyChunk is data read from one side, to be written to the other at due.
type proxyChunk struct {
	data []byte
	due  time.Time
}

// NewProxy listens on 127.0.0.1:0 and forwards every accepted connection to
// target ("host:port"). It and all its connections are closed when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("testenv: proxy to %s: listen: %v", target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{t: t, target: target, ln: ln, ctx: ctx, cancel: cancel,
		links: make(map[*proxyLink]struct{}), gate: make(chan struct{})}
	close(p.gate)
	p.wg.Go(p.acceptLoop)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's listening address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Accepted is the number of connections accepted so far.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Resets is the number of connections closed by Reset.
func (p *Proxy) Resets() int { return int(p.resets.Load()) }

// SetLatency delays every chunk read after the call, in either direction, by
// d (0: none). Chunks keep their order and are delayed in parallel.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// Reset closes every open connection abruptly (TCP RST on both sides).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		p.closeLinkLocked(l, true)
		p.resets.Add(1)
	}
}

// Blackhole holds all data read on every connection until Restore (a write
// under way may complete); new connections are accepted but not dialled.
func (p *Proxy) Blackhole() { p.setBlackhole(true) }

// Restore ends a Blackhole; held data is then delivered.
func (p *Proxy) Restore() { p.setBlackhole(false) }

func (p *Proxy) setBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.holed {
		p.gate = make(chan struct{})
	} else if !on && p.holed {
		close(p.gate)
	}
	p.holed = on
}

// close closes the listener and every connection, and waits for every
// goroutine of the proxy.
func (p *Proxy) close() {
	p.mu.Lock()
	p.cancel()
	for l := range p.links {
		p.closeLinkLocked(l, false)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if p.ctx.Err() == nil {
				p.t.Errorf("testenv: proxy to %s: accept: %v", p.target, err)
			}
			return
		}
		l := &proxyLink{client: c, done: make(chan struct{})}
		p.accepted.Add(1)
		p.mu.Lock()
		p.links[l] = struct{}{}
		if p.ctx.Err() != nil { // close has already closed the others
			p.closeLinkLocked(l, false)
		}
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(l) })
	}
}

// serve dials the target when not blackholed and pumps both ways until done.
func (p *Proxy) serve(l *proxyLink) {
	defer p.closeLink(l, false)
	if !p.ready(l, time.Now()) {
		return
	}
	conn, err := new(net.Dialer).DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.t.Logf("testenv: proxy to %s: dial: %v", p.target, err)
		return
	}
	server := conn.(*net.TCPConn)
	p.mu.Lock()
	l.server = server
	_, open := p.links[l] // else closed while dialling
	p.mu.Unlock()
	if !open {
		_ = server.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pump(l, server, l.client) })
	p.pump(l, l.client, server)
	wg.Wait()
}

// ready waits until due and then while blackholed; false if l closes first.
func (p *Proxy) ready(l *proxyLink, due time.Time) bool {
	select {
	case <-time.After(time.Until(due)):
	case <-l.done:
		return false
	}
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
		return true
	case <-l.done:
		return false
	}
}

// pump writes to dst, in order and when due, what read queues from src. A
// clean EOF half-closes dst; any other failure closes the link abruptly.
func (p *Proxy) pump(l *proxyLink, dst, src *net.TCPConn) {
	queue := make(chan proxyChunk, 64)
	p.wg.Go(func() { p.read(l, src, queue) })
	for c := range queue {
		if !p.ready(l, c.due) {
			return // l is closed, so read returns too
		}
		if _, err := dst.Write(c.data); err != nil {
			p.closeLink(l, true)
			return
		}
	}
	_ = dst.CloseWrite() // fails harmlessly if l is closed
}

// read queues what src sends, stamped with the latency in force, until src
// fails or l closes; it always closes queue.
func (p *Proxy) read(l *proxyLink, src net.Conn, queue chan<- proxyChunk) {
	defer close(queue)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			due := time.Now().Add(time.Duration(p.latency.Load()))
			select {
			case queue <- proxyChunk{data: bytes.Clone(buf[:n]), due: due}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.closeLink(l, true)
			}
			return
		}
	}
}

// closeLinkLocked closes both sides of l, if still open, abruptly (TCP RST)
// if abort, and forgets it. p.mu must be held.
func (p *Proxy) closeLinkLocked(l *proxyLink, abort bool) {
	if _, open := p.links[l]; !open {
		return
	}
	delete(p.links, l)
	close(l.done)
	for _, c := range []*net.TCPConn{l.client, l.server} {
		if c != nil && abort {
			_ = c.SetLinger(0)
		}
		if c != nil {
			_ = c.Close()
		}
	}
}

// closeLink is closeLinkLocked for callers not holding p.mu.
func (p *Proxy) closeLink(l *proxyLink, abort bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLinkLocked(l, abort)
}
