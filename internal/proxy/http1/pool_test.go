package http1

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/testclock"
)

// closeCounter is a net.Conn that counts its Close calls, and signals them on events if set.
type closeCounter struct {
	net.Conn
	closed *atomic.Int32
	events chan struct{}
}

func (c closeCounter) Close() error {
	c.closed.Add(1)
	if c.events != nil {
		c.events <- struct{}{}
	}
	return nil
}

func idleConn(closed *atomic.Int32) *upstreamConn {
	return &upstreamConn{c: closeCounter{closed: closed}}
}

// Connections idle for the pool's idle timeout are closed, oldest first, and never handed out.
func TestPoolIdleTimeout(t *testing.T) {
	clock := testclock.New(time.Unix(1000, 0))
	p := NewPool(nil, 8)
	p.now = clock.Now
	p.idleTimeout = 10 * time.Second
	defer p.Close()

	var closed atomic.Int32
	old, newer := idleConn(&closed), idleConn(&closed)
	p.put(old, true)
	clock.Advance(6 * time.Second)
	p.put(newer, true)

	// At 10 s, the first connection has timed out; the second has 6 s left.
	clock.Advance(4 * time.Second)
	got, err := p.take()
	if err != nil || got != newer {
		t.Fatalf("take = %p, %v; want the newer connection %p", got, err, newer)
	}
	if n := closed.Load(); n != 1 || p.Idle() != 0 {
		t.Fatalf("after take: %d closed, %d idle; want the timed-out one closed", n, p.Idle())
	}

	// Nothing idle for long: a take finds nothing and dials.
	p.put(newer, true)
	clock.Advance(10 * time.Second)
	if got, err := p.take(); got != nil || err != nil {
		t.Fatalf("take after the idle timeout = %p, %v; want nothing", got, err)
	}
	if n := closed.Load(); n != 2 {
		t.Fatalf("%d closed, want 2", n)
	}
}

// With no traffic at all, idle connections are closed when they time out: nothing holds their
// buffers (or the peer's) forever.
func TestPoolClosesIdleConnectionsWithoutTraffic(t *testing.T) {
	p := NewPool(nil, 8)
	p.idleTimeout = 20 * time.Millisecond
	defer p.Close()
	var closed atomic.Int32
	events := make(chan struct{}, 8)
	conn := func() *upstreamConn { return &upstreamConn{c: closeCounter{closed: &closed, events: events}} }
	waitClosed := func(what string) {
		t.Helper()
		select {
		case <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not closed within 10s (idle timeout 20ms)", what)
		}
	}
	p.put(conn(), true)
	p.put(conn(), true)
	waitClosed("the first idle connection")
	waitClosed("the second idle connection")
	if n := p.Idle(); n != 0 {
		t.Fatalf("%d idle after both timed out", n)
	}
	// A connection put back later gets its own timeout.
	p.put(conn(), true)
	waitClosed("a connection put back after the first expiry")
}

// Close stops the expiry: no timer fires on a closed pool, and connections given back after it
// are closed at once.
func TestPoolCloseStopsExpiry(t *testing.T) {
	p := NewPool(nil, 8)
	var closed atomic.Int32
	p.put(idleConn(&closed), true)
	p.Close()
	if n := closed.Load(); n != 1 {
		t.Fatalf("Close closed %d idle connections, want 1", n)
	}
	p.mu.Lock()
	armed := p.expiry != nil
	p.mu.Unlock()
	if armed {
		t.Error("the expiry timer is still armed after Close")
	}
	p.put(idleConn(&closed), true)
	if n := closed.Load(); n != 2 {
		t.Errorf("a connection given back to a closed pool: %d closed, want 2", n)
	}
}
