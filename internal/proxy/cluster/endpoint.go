package cluster

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/http1"
)

// idleConnTimeout closes pooled upstream connections unused for this long.
const idleConnTimeout = 90 * time.Second

// Endpoint is one upstream address of a cluster with its dialer and connection pools. Pools
// are created on first use.
type Endpoint struct {
	address  string
	protocol config.Protocol
	key      string
	maxIdle  int
	d        *dialer

	rtMu sync.Mutex
	rt   atomic.Pointer[http.Transport]

	h1Mu sync.Mutex
	h1   atomic.Pointer[http1.Pool]

	closed atomic.Bool
}

func newEndpoint(c *config.Cluster, addr, key string, opts *Options, g Gauge) *Endpoint {
	return &Endpoint{
		address:  addr,
		protocol: c.Protocol,
		key:      key,
		maxIdle:  opts.MaxIdlePerEndpoint,
		d:        newDialer(addr, c, opts, g),
	}
}

// Address returns the endpoint's host:port.
func (e *Endpoint) Address() string { return e.address }

// Scheme is the URL scheme for requests through Transport: "https" when the endpoint is
// reached over TLS (the Transport dials it itself), "http" otherwise.
func (e *Endpoint) Scheme() string {
	if e.d.tls != nil {
		return "https"
	}
	return "http"
}

// Transport returns the endpoint's net/http RoundTripper: HTTP/1.1 for HTTP1 clusters, HTTP/2
// (ALPN h2 over TLS, or prior knowledge in cleartext) for HTTP2 clusters. Requests must carry
// the URL scheme Scheme and the host Address.
func (e *Endpoint) Transport() http.RoundTripper {
	if t := e.rt.Load(); t != nil {
		return t
	}
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	if t := e.rt.Load(); t != nil {
		return t
	}
	t := e.buildTransport()
	e.rt.Store(t)
	return t
}

func (e *Endpoint) buildTransport() *http.Transport {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return e.d.dial(ctx) }
	t := &http.Transport{
		DialContext:         dial,
		DialTLSContext:      dial,
		MaxIdleConns:        e.maxIdle,
		MaxIdleConnsPerHost: e.maxIdle,
		IdleConnTimeout:     idleConnTimeout,
		// A proxy forwards what it was given: no added Accept-Encoding, no transparent gunzip.
		DisableCompression: true,
		// The dialer bounds the TLS handshake with the connect timeout.
		TLSHandshakeTimeout: 0,
		// A closed endpoint still serves requests that picked it before the close, without
		// keeping their connections.
		DisableKeepAlives: e.closed.Load(),
	}
	var p http.Protocols
	switch {
	case e.protocol == config.HTTP2 && e.d.tls != nil:
		p.SetHTTP2(true)
	case e.protocol == config.HTTP2:
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	t.Protocols = &p
	return t
}

// H1Pool returns the endpoint's pool of persistent HTTP/1.1 connections for the fast path.
func (e *Endpoint) H1Pool() *http1.Pool {
	if p := e.h1.Load(); p != nil {
		return p
	}
	e.h1Mu.Lock()
	defer e.h1Mu.Unlock()
	if p := e.h1.Load(); p != nil {
		return p
	}
	p := http1.NewPool(e.d.dial, e.maxIdle)
	if e.closed.Load() {
		p.Close()
	}
	e.h1.Store(p)
	return p
}

// Stats describes an endpoint's pools.
type Stats struct {
	// FastPath: the HTTP/1.1 fast path's pool exists; H1 are its counters.
	FastPath bool
	H1       http1.PoolStats
	// NetHTTP: the net/http Transport exists.
	NetHTTP bool
}

// Stats returns the endpoint's pool statistics.
func (e *Endpoint) Stats() Stats {
	var s Stats
	if p := e.h1.Load(); p != nil {
		s.FastPath, s.H1 = true, p.Stats()
	}
	s.NetHTTP = e.rt.Load() != nil
	return s
}

// Close stops pooling connections to the endpoint: idle connections are closed now; in-flight
// requests finish, and their connections are closed when they are done (by the HTTP/1.1 pool
// itself; by Finished for Transport).
func (e *Endpoint) Close() {
	if !e.closed.CompareAndSwap(false, true) {
		return
	}
	e.h1Mu.Lock()
	if p := e.h1.Load(); p != nil {
		p.Close()
	}
	e.h1Mu.Unlock()
	e.closeIdle()
}

// Finished is called after a request through Transport completes; on a closed endpoint it
// closes the connections that became idle.
func (e *Endpoint) Finished() {
	if e.closed.Load() {
		e.closeIdle()
	}
}

func (e *Endpoint) closeIdle() {
	if t := e.rt.Load(); t != nil {
		t.CloseIdleConnections()
	}
}
