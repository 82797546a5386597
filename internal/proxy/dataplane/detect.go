package dataplane

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// plaintextSNI stands for "a plaintext connection" where a connection's server name selects
// its filter chain (chainFor, the fast path, the HTTP/2 server's context). It cannot be a
// real TLS server name, so it never selects a TLS chain.
const plaintextSNI = "\x00plaintext"

// The first bytes of a TLS connection: a handshake record (0x16) of TLS major version 3.
const (
	tlsRecordHandshake = 0x16
	tlsMajorVersion    = 0x03
)

// detection is how a listener view tells TLS from plaintext (config.Detection, compiled).
type detection struct {
	// bound is how long to wait for the first two bytes; zero means the handshake timeout.
	bound time.Duration
	// continueOnTimeout: a silent connection is plaintext once bound has passed.
	continueOnTimeout bool
	// plain is the chain that serves plaintext, nil when the listener refuses it.
	plain *chainView
}

// compileDetection compiles the detection of a listener whose chains are compiled; nil when
// the listener does not tell TLS from plaintext.
func compileDetection(l *config.Listener, chains []*chainView) *detection {
	if l.Detection == nil {
		return nil
	}
	d := &detection{bound: l.Detection.Timeout, continueOnTimeout: l.Detection.ContinueOnTimeout}
	for _, c := range chains {
		if c.tls == nil && len(c.serverNames) == 0 {
			d.plain = c
			break
		}
	}
	return d
}

// chainPort is the service port a filter chain serves: from its name (inbound|<port> or
// inbound|<port>|plaintext), else the port of the listener's address.
func chainPort(chain, address string) int32 {
	if p, ok := wire.InboundChainPort(chain); ok {
		return p
	}
	if _, port, err := net.SplitHostPort(address); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			return int32(n)
		}
	}
	return 0
}

// handleDetect serves a connection on a listener that takes TLS and plaintext (or refuses
// plaintext after telling it apart): it reads the first bytes within the bound. A TLS
// ClientHello goes to the TLS chains; anything else, or nothing within the bound, is
// plaintext.
func (l *listenerRT) handleDetect(c net.Conn, d *detection) {
	bound := d.bound
	if bound <= 0 {
		bound = l.rt.cfg.HandshakeTimeout
	}
	sc, isTLS, timedOut, err := detectTLS(c, bound)
	if err != nil {
		l.log.Debug("connection closed before its transport was known", "remote", c.RemoteAddr().String(), "error", err)
		return
	}
	if timedOut {
		l.rt.met.mtls.detectionTimeout(l.name)
		if !d.continueOnTimeout {
			l.log.Debug("no TLS ClientHello within the detection bound: closed", "remote", c.RemoteAddr().String(), "bound", bound)
			return
		}
	}
	if isTLS {
		l.handleTLS(sc)
		return
	}
	if d.plain == nil {
		l.refusePlaintext(c)
		return
	}
	l.notePlaintext(c, d.plain)
	if d.plain.tcp != nil {
		l.proxyTCP(sc, d.plain)
		return
	}
	l.handleHTTP(sc, plaintextSNI, true)
}

// detectTLS reads up to two bytes within bound and tells whether they start a TLS handshake.
// The bytes read are replayed by the returned connection. timedOut reports a connection that
// sent nothing within bound (it is then plaintext). A connection that ends before sending
// anything is an error.
func detectTLS(c net.Conn, bound time.Duration) (_ *sniffedConn, isTLS, timedOut bool, _ error) {
	var buf [2]byte
	n := 0
	if err := c.SetReadDeadline(time.Now().Add(bound)); err != nil {
		return nil, false, false, err
	}
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if n > 0 && buf[0] != tlsRecordHandshake {
			break // not TLS: no need to wait for more
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timedOut = n == 0
				break
			}
			if n > 0 {
				break // ended after a byte: let the plaintext chain answer what it got
			}
			return nil, false, false, err
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, false, false, err
	}
	isTLS = n == len(buf) && buf[0] == tlsRecordHandshake && buf[1] == tlsMajorVersion
	return &sniffedConn{Conn: c, prefix: append([]byte(nil), buf[:n]...)}, isTLS, timedOut, nil
}

// noChainStatus answers a request whose connection's chain is gone from the config in force: 421
// Misdirected Request for a plaintext connection opened while its port took plaintext (it has
// gone STRICT since: the client must reconnect, and is then refused), 404 otherwise.
func noChainStatus(sni string) int {
	if sni == plaintextSNI {
		return http.StatusMisdirectedRequest
	}
	return http.StatusNotFound
}

// refusePlaintext closes a plaintext connection on a listener that has no plaintext chain: it
// counts it, and says once per listener why and what to do.
func (l *listenerRT) refusePlaintext(c net.Conn) {
	l.rt.met.mtls.plaintextRefused(l.name)
	if l.rt.plaintext.firstRefusal(l.name) {
		l.log.Warn("plaintext connection refused: this inbound port serves several service ports, and a "+
			"plaintext client sends no TLS server name to say which one it wants. Give each port that takes "+
			"plaintext (PERMISSIVE or DISABLE) its own inbound port: weft-proxy --app PORT=HOST:PORT@INBOUNDPORT "+
			"(logged once; weft_inbound_plaintext_refused_total counts them)",
			"remote", c.RemoteAddr().String())
	}
}

// notePlaintext counts a plaintext connection served by a chain that matches raw_buffer
// (PERMISSIVE and DISABLE ports) and remembers its source for GET /mtls/plaintext.
func (l *listenerRT) notePlaintext(c net.Conn, ch *chainView) {
	if ch.transport != config.TransportRaw {
		return
	}
	ctr := ch.plaintext.Load()
	if ctr == nil {
		// Looked up at the chain's first plaintext connection, not when it is compiled: a
		// chain that serves none exports no series. Racing lookups find the same counter.
		ctr = l.rt.met.mtls.plaintextServed(l.name, ch.port)
		ch.plaintext.Store(ctr)
	}
	ctr.Inc()
	l.rt.plaintext.note(l.name, c.RemoteAddr(), ch.port)
}
