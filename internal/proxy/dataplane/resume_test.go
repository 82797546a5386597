package dataplane

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/testpki"
)

// TestRootRotationDoesNotResumeOldSessions: a client whose TLS session was established with a
// certificate from the old root is not resumed once the trust bundle holds only the new root
// (the resumption would fail on the old certificate); it gets a full handshake and, with its
// current certificate, is served. While the bundle stays the same, sessions are resumed.
func TestRootRotationDoesNotResumeOldSessions(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	mustApply(t, p.callee, inboundConfig("v1", p.ca.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()}))
	inbound := listenerAddr(t, p.callee, "inbound")

	cache := tls.NewLRUClientSessionCache(8)
	handshake := func(cert *tls.Certificate) (resumed bool, err error) {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", inbound, &tls.Config{
			ServerName: sni(80), InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"},
			ClientSessionCache: cache,
		})
		if err != nil {
			return false, err
		}
		defer conn.Close()
		// TLS 1.3 tickets arrive after the handshake: a request and its answer make sure the
		// client has read them.
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: svc\r\n\r\n")); err != nil {
			return false, err
		}
		if _, err := conn.Read(make([]byte, 512)); err != nil {
			return false, err
		}
		return conn.ConnectionState().DidResume, nil
	}

	oldLeaf := p.ca.Leaf(t, callerID)
	if resumed, err := handshake(oldLeaf); err != nil || resumed {
		t.Fatalf("first handshake: resumed=%v err=%v", resumed, err)
	}
	if resumed, err := handshake(oldLeaf); err != nil || !resumed {
		t.Fatalf("second handshake under the same bundle: resumed=%v err=%v; want a resumption", resumed, err)
	}

	// The root rotates: the callee trusts only the new root and holds a certificate from it.
	next := testpki.NewCA(t, "weft test CA 2")
	p.calleeCerts.Set(next.Leaf(t, calleeID))
	mustApply(t, p.callee, inboundConfig("v2", next.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()}))

	resumed, err := handshake(next.Leaf(t, callerID))
	if err != nil {
		t.Fatalf("handshake after the rotation, with a certificate from the new root: %v", err)
	}
	if resumed {
		t.Fatal("a session established under the old root was resumed")
	}
}
