package dataplane

import (
	"context"
	"net"
	"net/http"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/http1"
	"github.com/weftmesh/weft/internal/proxy/router"
)

// serveFast serves an HTTP/1.1 connection on the fast path (package http1): routing on the
// parsed request view, forwarding over the endpoint's pool of persistent connections. It
// returns when the connection is done; cancelling l.ctx drains it.
func (l *listenerRT) serveFast(c net.Conn, sni string) {
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	fc := &fastConn{l: l, sni: sni, cancel: cancel}
	fc.authz.peer.conn = c
	srv := &http1.Server{
		Route:   fc.route,
		Observe: l.met.observe,
		Logger:  l.log,
	}
	srv.ServeConn(ctx, c)
}

// fastConn is the fast path's per-connection routing state.
type fastConn struct {
	l      *listenerRT
	sni    string
	cancel context.CancelFunc
	authz  fastAuthz // used when the chain has authorization
}

// route picks the upstream pool of a request. It reads the config in force at each request and
// allocates nothing.
func (fc *fastConn) route(r *http1.Request) http1.Decision {
	ch := fc.l.view.Load().chainFor(fc.sni)
	if ch == nil || ch.table == nil {
		if fc.sni == plaintextSNI {
			fc.cancel() // the port no longer takes plaintext: close after this answer
		}
		return http1.Decision{Status: noChainStatus(fc.sni)}
	}
	var req router.Request = h1Request{r}
	var target []byte
	if ch.authz != nil {
		var d http1.Decision
		var ok bool
		if req, target, d, ok = fc.authorize(r, ch.authz); !ok {
			return d
		}
	}
	rt := ch.table.Match(req)
	switch {
	case rt == nil:
		return http1.Decision{Status: http.StatusNotFound}
	case rt.DirectStatus != 0:
		return http1.Decision{Status: rt.DirectStatus}
	}
	cl := rt.Pick()
	if cl.Protocol() == config.HTTP2 {
		// A config update made this route reach an HTTP/2 cluster, which the fast path cannot
		// speak: hand the request to the net/http path, and close this connection after it so
		// that the client's next connection goes there directly.
		fc.cancel()
		return http1.Decision{Pool: fc.l.bridge(fc.sni), Timeout: rt.Timeout, Target: target}
	}
	ep := cl.Pick()
	if ep == nil {
		return http1.Decision{Status: http.StatusServiceUnavailable}
	}
	return http1.Decision{Pool: ep.H1Pool(), Timeout: rt.Timeout, Target: target}
}

// bridge returns the listener's pool of in-memory connections to its own net/http server, for
// fast-path requests that must go to an HTTP/2 cluster. The net/http side routes them again.
func (l *listenerRT) bridge(sni string) *http1.Pool {
	l.bridgeMu.Lock()
	defer l.bridgeMu.Unlock()
	if p, ok := l.bridges[sni]; ok {
		return p
	}
	if l.bridges == nil {
		l.bridges = make(map[string]*http1.Pool)
	}
	p := http1.NewPool(func(context.Context) (net.Conn, error) {
		near, far := net.Pipe()
		go l.http.ServeConn(&sniffedConn{Conn: far, sni: sni, bridged: true})
		return near, nil
	}, 4)
	l.bridges[sni] = p
	return p
}

// closeBridges closes the bridge pools.
func (l *listenerRT) closeBridges() {
	l.bridgeMu.Lock()
	defer l.bridgeMu.Unlock()
	for _, p := range l.bridges {
		p.Close()
	}
	l.bridges = nil
}

// h1Request shows the fast path's request view to the router; it is pointer-shaped, so
// passing it as a router.Request does not allocate.
type h1Request struct{ r *http1.Request }

func (h h1Request) Authority() []byte { return h.r.Host() }

func (h h1Request) Path() []byte { return h.r.Path() }

func (h h1Request) Header(name string) ([]byte, bool) {
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":authority":
			return h.r.Host(), true
		case ":path":
			return h.r.RawTarget(), true
		case ":method":
			return h.r.Method(), true
		}
		return nil, false
	}
	return h.r.Header(name)
}
