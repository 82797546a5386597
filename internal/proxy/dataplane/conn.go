package dataplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/proxy/dataplane/mtls"
	"github.com/weftmesh/weft/internal/proxy/h2"
	"github.com/weftmesh/weft/internal/proxy/http1"
	"github.com/weftmesh/weft/internal/proxy/listener"
	"github.com/weftmesh/weft/internal/proxy/tcp"
)

// ALPN protocol names the data plane dispatches on.
const (
	alpnH2      = "h2"
	alpnWeftTCP = "weft-tcp"
)

// h2Preface is the client connection preface of HTTP/2 (RFC 9113 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// listenerRT is one running listener: its socket, the view of the config it serves, and the
// servers its connections are handed to.
type listenerRT struct {
	rt      *Runtime
	name    string
	address string
	log     *slog.Logger
	ln      *listener.Listener
	view    atomic.Pointer[listenerView]
	met     *listenerMetrics
	tlsBase *tls.Config
	http    *h2.Server
	// ctx is the parent of the fast path's per-connection contexts: cancelling it makes
	// HTTP/1.1 connections finish their request with Connection: close.
	ctx    context.Context
	cancel context.CancelFunc

	bridgeMu sync.Mutex
	bridges  map[string]*http1.Pool // by TLS server name; see bridge
}

func (r *Runtime) newListener(name string, v *listenerView) (*listenerRT, error) {
	l := &listenerRT{
		rt:      r,
		name:    name,
		address: v.cfg.Address,
		log:     r.log.With("listener", name),
		met:     r.met.forListener(name),
	}
	l.view.Store(v)
	// The versions that apply are those of the config GetConfigForClient returns (the chain's).
	l.tlsBase = &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: l.configForClient}
	fwd, err := h2.NewForwarder(h2.ForwarderConfig{Resolve: l.resolve, Observe: l.met.observe, Logger: l.log})
	if err != nil {
		return nil, err
	}
	ln, err := listener.Bind(listener.Config{
		Name:    name,
		Address: v.cfg.Address,
		Handler: l.handle,
		Active:  l.met.active,
		Logger:  r.log,
	})
	if err != nil {
		return nil, err
	}
	l.ln = ln
	srv, err := h2.NewServer(h2.ServerConfig{Handler: fwd, Logger: l.log, ConnContext: connContext})
	if err != nil {
		ln.Stop()
		return nil, err
	}
	l.http = srv
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// start runs the accept loop.
func (l *listenerRT) start() { l.ln.Start() }

// abort undoes newListener for a listener that never started.
func (l *listenerRT) abort() { l.close() }

// drain stops accepting and lets the connections finish until ctx is done, then closes them.
func (l *listenerRT) drain(ctx context.Context) error {
	l.ln.Stop()
	l.cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- l.http.Shutdown(ctx) }()
	err := l.ln.Wait(ctx)
	if err != nil {
		l.ln.CloseConns()
	}
	l.closeBridges()
	<-httpDone
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.name, err)
	}
	return nil
}

// close closes the socket and every connection at once.
func (l *listenerRT) close() {
	l.ln.Stop()
	l.cancel()
	l.ln.CloseConns()
	l.closeBridges()
	_ = l.http.Close()
}

// handle serves one accepted connection; the listener closes it when handle returns.
func (l *listenerRT) handle(c net.Conn) {
	v := l.view.Load()
	if v.detect != nil {
		l.handleDetect(c, v.detect)
		return
	}
	if v.tls {
		l.handleTLS(c)
		return
	}
	ch := v.chainFor("")
	if ch == nil {
		return
	}
	l.notePlaintext(c, ch)
	if ch.tcp != nil {
		l.proxyTCP(c, ch)
		return
	}
	l.handleHTTP(c, "", true)
}

func (l *listenerRT) handleTLS(c net.Conn) {
	tc := tls.Server(c, l.tlsBase)
	ctx, cancel := context.WithTimeout(context.Background(), l.rt.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		reason := mtls.Reason(err)
		l.met.handshakeFailed(reason)
		l.log.Debug("TLS handshake refused", "remote", c.RemoteAddr().String(), "reason", reason, "error", err)
		return
	}
	cs := tc.ConnectionState()
	ch := l.view.Load().chainFor(cs.ServerName)
	switch {
	case ch == nil:
		return
	case ch.tcp != nil:
		l.proxyTCP(tc, ch)
	case cs.NegotiatedProtocol == alpnH2:
		l.http.ServeConn(tc)
	case cs.NegotiatedProtocol == alpnWeftTCP:
		// An opaque stream on an HTTP chain: it is HTTP inside, of either version.
		l.handleHTTP(tc, cs.ServerName, true)
	default:
		l.handleHTTP(tc, cs.ServerName, false)
	}
}

// configForClient builds the TLS config of one handshake from the chain the client's server
// name selects in the current view.
func (l *listenerRT) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	v := l.view.Load()
	ch := v.chainFor(hello.ServerName)
	if ch == nil || ch.tls == nil {
		return nil, fmt.Errorf("no TLS filter chain for server name %q", hello.ServerName)
	}
	trust, sans, require := v.st.trust, ch.sans, ch.tls.RequireClientCert
	base, trustID := l.tlsBase, v.st.trustID
	c := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.rt.getCertificate() },
		NextProtos:     ch.tls.ALPN,
		// The certificate is checked in VerifyConnection, against the trust bundle in force
		// and the chain's allowed identities, with typed errors for the metrics.
		ClientAuth: tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 && !require {
				return nil
			}
			return mtls.VerifyPeer(cs.PeerCertificates, trust, sans)
		},
		// A session is resumed only under the trust bundle it was established under: after a
		// root rotation, a peer certificate from the old CA must not make a resumption fail
		// where a full handshake with its current certificate succeeds.
		WrapSession: func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, []byte(trustID))
			return base.EncryptTicket(cs, ss)
		},
		UnwrapSession: func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := base.DecryptTicket(identity, cs)
			if err != nil || ss == nil || !mtls.SessionUnder(ss.Extra, trustID) {
				return nil, nil // not resumable here: a full handshake follows
			}
			return ss, nil
		},
	}
	mtls.Apply(c, ch.tls.Params)
	return c, nil
}

// handleHTTP serves an HTTP connection: sniffing the HTTP/2 preface first when asked, then the
// fast path for HTTP/1.1 when the chain allows it, net/http otherwise.
func (l *listenerRT) handleHTTP(c net.Conn, sni string, sniff bool) {
	if sniff {
		sc, isH2, err := sniffH2(c, l.rt.cfg.HandshakeTimeout)
		if err != nil {
			l.log.Debug("connection closed before its protocol was known", "remote", c.RemoteAddr().String(), "error", err)
			return
		}
		sc.sni = sni
		if isH2 {
			l.http.ServeConn(sc)
			return
		}
		c = sc
	}
	if ch := l.view.Load().chainFor(sni); ch != nil && ch.fastH1 {
		l.serveFast(c, sni)
		return
	}
	l.http.ServeConn(c)
}

// proxyTCP forwards the connection to an endpoint of the TCP chain's cluster, once the chain's
// authorization allows it.
func (l *listenerRT) proxyTCP(down net.Conn, ch *chainView) {
	if !l.authorizeConn(down, ch) {
		return
	}
	cl := ch.tcp
	ep := cl.Pick()
	if ep == nil {
		l.log.Warn("tcp proxy: cluster has no endpoint", "cluster", cl.Name())
		return
	}
	// Not l.ctx: a connection accepted before a drain is served to its end. The dial is
	// bounded by the cluster's connect timeout.
	up, err := ep.Dial(context.Background())
	if err != nil {
		l.log.Warn("tcp proxy: upstream connect failed", "cluster", cl.Name(), "endpoint", ep.Address(), "error", err)
		return
	}
	res := tcp.Pipe(down, up)
	if res.Err != nil {
		l.log.Debug("tcp proxy: connection ended with an error", "cluster", cl.Name(), "error", res.Err)
	}
}

// sniffedConn replays the bytes read while sniffing, then reads from the connection. It
// carries the TLS server name of the connection it wraps, if any.
type sniffedConn struct {
	net.Conn
	prefix  []byte
	sni     string
	bridged bool // a connection of the fast path's bridge (see listenerRT.bridge)
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the wrapped connection.
func (c *sniffedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// sniffH2 reads until the bytes read either differ from the HTTP/2 preface or complete it.
// An HTTP/1.1 request differs at its first byte, so nothing waits on a short request.
func sniffH2(c net.Conn, timeout time.Duration) (*sniffedConn, bool, error) {
	buf := make([]byte, len(h2Preface))
	n := 0
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, false, err
	}
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if !bytes.Equal(buf[:n], []byte(h2Preface[:n])) {
			break
		}
		if err != nil {
			if n > 0 && n < len(buf) {
				// A peer that ends (or stalls) inside what looks like the preface: let the
				// HTTP/1.1 parser answer it.
				break
			}
			return nil, false, err
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, false, err
	}
	return &sniffedConn{Conn: c, prefix: buf[:n]}, n == len(buf) && string(buf) == h2Preface, nil
}

type sniKey struct{}

// connContext carries a sniffed TLS connection's server name to the requests net/http serves
// on it (a *tls.Conn has it in Request.TLS).
func connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = withConnPeer(ctx, c)
	if sc, ok := c.(*sniffedConn); ok && sc.sni != "" {
		return context.WithValue(ctx, sniKey{}, sc.sni)
	}
	return ctx
}
