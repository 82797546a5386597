package http1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// PoolIdleTimeout is how long a connection may stay idle in a Pool before the pool closes
// it. It is shorter than the idle timeout of Weft's own servers (60 s), so that the pool never
// sends a request on a connection the proxy at the other end is closing, and it lets a proxy
// give back the memory of the connections a burst of traffic left.
const PoolIdleTimeout = 45 * time.Second

// ErrPoolClosed is returned for a connection asked of a closed Pool.
var ErrPoolClosed = errors.New("http1: pool closed")

// Pool keeps idle persistent connections to one upstream endpoint and hands one out per
// request, most recently used first. A connection idle for PoolIdleTimeout is closed. It is
// safe for concurrent use.
type Pool struct {
	dial        Dialer
	maxIdle     int
	idleTimeout time.Duration
	now         func() time.Time

	mu     sync.Mutex
	idle   []*upstreamConn // a stack: the last one is the most recently used
	closed bool
	// expiry, while connections are idle, closes them as they time out.
	expiry *time.Timer

	dials  atomic.Uint64
	reuses atomic.Uint64
}

// PoolStats counts what a Pool did.
type PoolStats struct {
	// Dials is the number of connections opened (successfully or not).
	Dials uint64
	// Reuses is the number of requests sent on a connection taken from the idle set.
	Reuses uint64
	// Idle is the number of idle connections now.
	Idle int
}

// NewPool returns a pool that opens connections with dial and keeps at most maxIdle of them
// idle (at least one).
func NewPool(dial Dialer, maxIdle int) *Pool {
	return &Pool{dial: dial, maxIdle: max(maxIdle, 1), idleTimeout: PoolIdleTimeout, now: time.Now}
}

// upstreamConn is a connection to an upstream with its read buffer.
type upstreamConn struct {
	c      net.Conn
	rd     reader
	reused bool // taken from the idle set (so it may have been closed by the upstream)
	// idleSince is when the connection went back to the idle set.
	idleSince time.Time
}

// take returns the most recently used idle connection, or nil when there is none.
func (p *Pool) take() (*upstreamConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	expired := p.expiredLocked()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		closeAll(expired)
		return nil, nil
	}
	uc := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.mu.Unlock()
	closeAll(expired)
	p.reuses.Add(1)
	uc.reused = true
	return uc, nil
}

// dialNew opens a new connection (bypassing the idle set).
func (p *Pool) dialNew(ctx context.Context) (*upstreamConn, error) {
	if p.isClosed() {
		return nil, ErrPoolClosed
	}
	p.dials.Add(1)
	c, err := p.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialing upstream: %w", err)
	}
	uc := &upstreamConn{c: c}
	uc.rd.reset(c)
	return uc, nil
}

// put gives back a connection after a complete exchange. A connection that is not reusable,
// or that finds the pool closed or full, is closed.
func (p *Pool) put(uc *upstreamConn, reusable bool) {
	if reusable && uc.rd.buffered() == 0 {
		uc.rd.r, uc.rd.w = 0, 0
		uc.idleSince = p.now()
		p.mu.Lock()
		if !p.closed && len(p.idle) < p.maxIdle {
			p.idle = append(p.idle, uc)
			if p.expiry == nil {
				p.expiry = time.AfterFunc(p.idleTimeout, p.expire)
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	_ = uc.c.Close()
}

// expiredLocked removes from the idle set the connections idle for idleTimeout or more and
// returns them, to be closed without the lock. Called with p.mu held.
func (p *Pool) expiredLocked() []*upstreamConn {
	cut := p.now().Add(-p.idleTimeout)
	k := 0 // the idle set is in the order connections came back: the oldest first
	for k < len(p.idle) && !p.idle[k].idleSince.After(cut) {
		k++
	}
	if k == 0 {
		return nil
	}
	expired := slices.Clone(p.idle[:k])
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	return expired
}

// expire closes the connections that timed out, and waits for the next one to.
func (p *Pool) expire() {
	p.mu.Lock()
	expired := p.expiredLocked()
	p.expiry = nil
	if len(p.idle) > 0 && !p.closed {
		next := p.idle[0].idleSince.Add(p.idleTimeout).Sub(p.now())
		p.expiry = time.AfterFunc(max(next, time.Millisecond), p.expire)
	}
	p.mu.Unlock()
	closeAll(expired)
}

func closeAll(conns []*upstreamConn) {
	for _, uc := range conns {
		_ = uc.c.Close()
	}
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close closes the idle connections and makes the pool refuse further use. Connections in
// use are closed when they are given back.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
	p.mu.Unlock()
	closeAll(idle)
}

// Idle returns the number of idle connections.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	return PoolStats{Dials: p.dials.Load(), Reuses: p.reuses.Load(), Idle: p.Idle()}
}
