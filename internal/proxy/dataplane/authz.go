package dataplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/weftmesh/weft/internal/proxy/authz"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/h2"
	"github.com/weftmesh/weft/internal/proxy/http1"
	"github.com/weftmesh/weft/internal/proxy/router"
)

// The texts of the proxy's answers to what authorization refuses.
const (
	authzDeniedText = "access denied by authorization policy"
	badPathPrefix   = "bad request: "
)

// chainAuthz is the compiled authorization of a filter chain.
type chainAuthz struct {
	engine *authz.Engine
	// port is the chain's service port (chainView.port), as authz.Input takes it.
	port uint32
}

// compileAuthz compiles the authorization of every chain of views. A listener view's chains
// follow its config's filter chains one for one.
func (r *Runtime) compileAuthz(views map[string]*listenerView) error {
	for name, v := range views {
		if len(v.chains) != len(v.cfg.FilterChains) {
			return fmt.Errorf("listener %q: %d compiled chains for %d filter chains", name, len(v.chains), len(v.cfg.FilterChains))
		}
		for i, fc := range v.cfg.FilterChains {
			var cfg *config.Authz
			switch {
			case fc.HTTP != nil:
				cfg = fc.HTTP.Authz
			case fc.TCP != nil:
				cfg = fc.TCP.Authz
			}
			e, err := authz.Compile(cfg, r.authz)
			if err != nil {
				return fmt.Errorf("listener %q: filter_chains[%d]: %w", name, i, err)
			}
			if e != nil {
				v.chains[i].authz = &chainAuthz{engine: e, port: uint32(v.chains[i].port)}
			}
		}
	}
	return nil
}

// connPeer is who is at the other end of a connection: found once, when first asked.
type connPeer struct {
	once          sync.Once
	conn          net.Conn
	authenticated bool
	peer          string
	// bridged: an in-memory connection of the fast path's bridge, whose requests were
	// authorized (and their paths normalised) on the fast path.
	bridged bool
}

func (p *connPeer) get() (authenticated bool, peer string) {
	p.once.Do(func() { p.authenticated, p.peer = peerOf(p.conn) })
	return p.authenticated, p.peer
}

// peerOf returns whether c carries a verified client certificate (the listener verified it
// during the handshake) and its URI SAN. c is the TLS connection or a wrapper of it.
func peerOf(c net.Conn) (bool, string) {
	for range 8 {
		switch x := c.(type) {
		case *tls.Conn:
			certs := x.ConnectionState().PeerCertificates
			if len(certs) == 0 {
				return false, ""
			}
			if len(certs[0].URIs) == 0 {
				return true, ""
			}
			return true, certs[0].URIs[0].String()
		case *sniffedConn:
			c = x.Conn
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return false, ""
		}
	}
	return false, ""
}

// fastAuthz is the fast path's per-connection authorization state. Its buffers are reused
// from one request to the next, so that a check allocates nothing.
type fastAuthz struct {
	peer   connPeer // its conn is set by serveFast
	path   []byte   // the current request's normalised path
	target []byte   // its normalised request-target, when it differs from the client's
	req    normRequest
	in     authz.Input
}

// authorize normalises the path of a fast-path request and checks it against the chain's
// authorization. It returns the request as routing must see it and the request-target to
// forward (nil: the client's), or ok false and the local answer.
func (fc *fastConn) authorize(r *http1.Request, az *chainAuthz) (_ router.Request, target []byte, _ http1.Decision, ok bool) {
	st := &fc.authz
	raw := r.Path()
	path := raw
	if len(raw) != 1 || raw[0] != '*' { // "OPTIONS *" has no path to normalise
		norm, err := authz.NormalizePath(st.path, raw)
		st.path = norm[:0]
		if err != nil {
			return nil, nil, http1.Decision{Status: http.StatusBadRequest, Body: badPathPrefix + err.Error()}, false
		}
		path = norm
		if !bytes.Equal(norm, raw) {
			target = st.rewriteTarget(r.RawTarget(), raw, norm)
		}
	}
	st.req = normRequest{r: r, path: path, target: target}
	authenticated, peer := st.peer.get()
	st.in = authz.Input{
		Authenticated: authenticated, Peer: peer, Port: az.port,
		Request: &st.req, Method: r.Method(), Path: path,
	}
	allowed := az.engine.Check(&st.in)
	st.in = authz.Input{}
	if !allowed {
		return nil, nil, http1.Decision{Status: http.StatusForbidden, Body: authzDeniedText}, false
	}
	return &st.req, target, http1.Decision{}, true
}

// rewriteTarget builds, in a reused buffer, the request-target with its path replaced: what
// comes before the path (the scheme and authority of an absolute-form target) and the query
// are kept.
func (st *fastAuthz) rewriteTarget(rawTarget, rawPath, norm []byte) []byte {
	start := 0
	if len(rawTarget) > 0 && rawTarget[0] != '/' {
		// Absolute form: the path starts at the first '/' after "://", or is empty.
		start = len(rawTarget)
		if i := bytes.Index(rawTarget, []byte("://")); i >= 0 {
			rest := rawTarget[i+3:]
			if j := bytes.IndexAny(rest, "/?"); j >= 0 {
				start = i + 3 + j
			}
		}
	}
	pathLen := len(rawPath)
	if start == len(rawTarget) || rawTarget[start] != '/' {
		pathLen = 0 // an absolute form without a path: the path "/" was implied
	}
	t := append(st.target[:0], rawTarget[:start]...)
	t = append(t, norm...)
	t = append(t, rawTarget[start+pathLen:]...)
	st.target = t
	return t
}

// normRequest shows a fast-path request to the router with its normalised path.
type normRequest struct {
	r            *http1.Request
	path, target []byte
}

func (n *normRequest) Authority() []byte { return n.r.Host() }

func (n *normRequest) Path() []byte { return n.path }

func (n *normRequest) Header(name string) ([]byte, bool) {
	if name == ":path" && n.target != nil {
		return n.target, true
	}
	return h1Request{n.r}.Header(name)
}

type connPeerKey struct{}

// withConnPeer records a connection served by net/http in its requests' context, for the
// authorization of its requests.
func withConnPeer(ctx context.Context, c net.Conn) context.Context {
	cp := &connPeer{conn: c}
	if sc, ok := c.(*sniffedConn); ok {
		cp.bridged = sc.bridged
	}
	return context.WithValue(ctx, connPeerKey{}, cp)
}

// authorizeHTTP normalises the path of a request served by net/http (the normalised path is
// what is routed and forwarded) and checks it against the chain's authorization. It returns
// ok false and the local answer when the request is refused. Requests the fast path bridged
// here were authorized there.
func (l *listenerRT) authorizeHTTP(r *http.Request, az *chainAuthz) (h2.Target, bool) {
	// connContext records a connPeer for every connection l.http serves.
	cp := r.Context().Value(connPeerKey{}).(*connPeer)
	if cp.bridged {
		return h2.Target{}, true
	}
	path := r.URL.EscapedPath()
	if r.RequestURI != "" && r.RequestURI != "*" {
		path, _, _ = strings.Cut(r.RequestURI, "?")
		if i := strings.Index(path, "://"); i >= 0 && !strings.HasPrefix(path, "/") {
			// Absolute form: the path follows the authority.
			rest := path[i+3:]
			path = "/"
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				path = rest[j:]
			}
		}
	}
	if r.RequestURI != "*" {
		norm, err := authz.NormalizePath(nil, []byte(path))
		if err != nil {
			return h2.Target{Status: http.StatusBadRequest, Message: badPathPrefix + err.Error()}, false
		}
		if string(norm) != path || r.URL.Path == "" {
			u, err := url.ParseRequestURI(string(norm))
			if err != nil {
				return h2.Target{Status: http.StatusBadRequest, Message: badPathPrefix + authz.ErrBadPath.Error()}, false
			}
			r.URL.Path, r.URL.RawPath = u.Path, u.RawPath
		}
		path = string(norm)
	}
	authenticated, peer := cp.get()
	in := &authz.Input{
		Authenticated: authenticated, Peer: peer, Port: az.port,
		Request: httpRequest{r}, Method: []byte(r.Method), Path: []byte(path),
	}
	if !az.engine.Check(in) {
		return h2.Target{Status: http.StatusForbidden, Message: authzDeniedText}, false
	}
	return h2.Target{}, true
}

// authorizeConn checks a TCP connection against the chain's authorization; a connection
// refused is closed by the caller, before any byte is read from it.
func (l *listenerRT) authorizeConn(c net.Conn, ch *chainView) bool {
	if ch.authz == nil {
		return true
	}
	authenticated, peer := peerOf(c)
	return ch.authz.engine.Check(&authz.Input{Authenticated: authenticated, Peer: peer, Port: ch.authz.port})
}
