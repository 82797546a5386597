package dataplane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/testpki"
)

// startEchoApp echoes what it reads and half-closes when its peer does.
func startEchoApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTCPEchoThroughMutualTLS(t *testing.T) {
	p := newPair(t)
	echo := startEchoApp(t)
	mustApply(t, p.callee, inboundConfig("in", p.ca.PEM, appPort{port: 6379, target: echo, tcp: true}))
	inbound := listenerAddr(t, p.callee, "inbound")
	cl := meshCluster("outbound|6379||echo.default", 6379, config.TCP, []string{calleeID}, inbound)
	mustApply(t, p.caller, &config.Config{
		Version: "tcp",
		Listeners: map[string]*config.Listener{"outbound": {Name: "outbound", Address: "127.0.0.1:0",
			FilterChains: []*config.FilterChain{{Name: "tcp", TCP: &config.TCPProxy{StatPrefix: "echo", Cluster: cl.Name}}}}},
		Clusters:    map[string]*config.Cluster{cl.Name: cl},
		TrustBundle: p.ca.PEM,
	})

	c, err := net.DialTimeout("tcp", listenerAddr(t, p.caller, "outbound"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("weft-tcp "), 20000) // larger than any one buffer
	go func() {
		_, _ = c.Write(msg)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	// The echo only ends its stream after seeing ours end: reading to EOF proves the
	// half-close went through both proxies and back.
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo returned %d bytes, want %d identical", len(got), len(msg))
	}
}

// TestInboundRefusesBadPeers connects to a callee's inbound listener directly with various
// clients; every bad one must be refused during the handshake and never reach the app.
func TestInboundRefusesBadPeers(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	c := inboundConfig("in", p.ca.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()})
	// Only the caller's identity is allowed on this listener.
	c.Listeners["inbound"].FilterChains[0].TLS.AllowedSANPrefixes = nil
	c.Listeners["inbound"].FilterChains[0].TLS.AllowedSANs = []string{callerID}
	mustApply(t, p.callee, c)
	inbound := listenerAddr(t, p.callee, "inbound")

	otherCA := testpki.NewCA(t, "another CA")
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	tests := []struct {
		name       string
		cert       *tls.Certificate // nil: no client certificate
		plaintext  bool
		wantReason string
	}{
		{"allowed peer", p.ca.Leaf(t, callerID), false, ""},
		{"plaintext client", nil, true, "plaintext"},
		{"no client certificate", nil, false, "no_client_cert"},
		{"SAN not allowed", p.ca.Leaf(t, "spiffe://weft.test/ns/default/sa/intruder"), false, "san_mismatch"},
		{"no URI SAN", p.ca.Leaf(t, ""), false, "san_mismatch"},
		{"another CA", otherCA.Leaf(t, callerID), false, "untrusted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"listener": "inbound", "reason": tc.wantReason}
			before := metricValue(t, p.calleeReg, MetricHandshakeFailures, labels)
			conn, err := net.DialTimeout("tcp", inbound, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if !tc.plaintext {
				cfg := &tls.Config{ServerName: sni(80), RootCAs: roots, NextProtos: []string{"http/1.1"},
					MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
				if tc.cert != nil {
					cfg.Certificates = []tls.Certificate{*tc.cert}
				}
				conn = tls.Client(conn, cfg)
			}
			_, _ = io.WriteString(conn, "GET /secret HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
			resp, _ := io.ReadAll(conn)
			answered := bytes.HasPrefix(resp, []byte("HTTP/1.1 200"))
			if tc.wantReason == "" {
				if !answered {
					t.Fatalf("allowed peer got %q", resp)
				}
				return
			}
			if answered || bytes.Contains(resp, []byte("app GET")) {
				t.Fatalf("refused peer reached the app: %q", resp)
			}
			// The failure is counted once the server side has seen it.
			waitFor(t, "the handshake failure to be counted", 5*time.Second, func() bool {
				return metricValue(t, p.calleeReg, MetricHandshakeFailures, labels) == before+1
			})
		})
	}
}

// TestCallerRefusesWrongCallee: the caller only accepts the callee identities its cluster
// lists; a callee with another identity gets no request.
func TestCallerRefusesWrongCallee(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	mustApply(t, p.callee, inboundConfig("in", p.ca.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()}))
	inbound := listenerAddr(t, p.callee, "inbound")
	cl := meshCluster("svc", 80, config.HTTP1, []string{"spiffe://weft.test/ns/default/sa/someone-else"}, inbound)
	mustApply(t, p.caller, outboundConfig("out", p.ca.PEM, routeTo("svc", cl.Name), cl))
	res, err := get(t, httpClient(t), "http://"+listenerAddr(t, p.caller, "outbound")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != 502 && res.status != 503 {
		t.Fatalf("status %d (%q), want the proxy's 502/503", res.status, res.body)
	}
	if res.header.Get("X-App") != "" {
		t.Fatal("the request reached the app")
	}
}
