package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/mtls"
	"github.com/weftmesh/weft/internal/proxy/dataplane/testpki"
)

const (
	clientID = "spiffe://weft.test/ns/default/sa/client"
	serverID = "spiffe://weft.test/ns/default/sa/server"
)

func testOptions(cert *tls.Certificate, roots *x509.CertPool) Options {
	return Options{
		Certificate: func() *tls.Certificate { return cert },
		TrustPool:   func() *x509.CertPool { return roots },
	}
}

func tlsCluster(name string, sans []string, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: name, Protocol: config.HTTP1, ConnectTimeout: time.Second,
		TLS: &config.UpstreamTLS{SNI: "p80.inbound.weft", ALPN: []string{"http/1.1"}, AllowedSANs: sans}}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a})
	}
	return c
}

func TestBuildReusesEndpoints(t *testing.T) {
	opts := testOptions(nil, nil)
	base := map[string]*config.Cluster{"svc": tlsCluster("svc", []string{serverID}, "10.0.0.1:80", "10.0.0.2:80")}
	s1, err := Build(base, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	ep := func(s *Set, i int) *Endpoint {
		cl, ok := s.Cluster("svc")
		if !ok {
			t.Fatal("cluster svc missing")
		}
		return cl.Endpoints()[i]
	}
	tests := []struct {
		name       string
		change     func(c *config.Cluster)
		wantReused bool
	}{
		{"unchanged", func(c *config.Cluster) {}, true},
		{"identity added", func(c *config.Cluster) { c.TLS.AllowedSANs = append(c.TLS.AllowedSANs, clientID) }, true},
		{"identity replaced", func(c *config.Cluster) { c.TLS.AllowedSANs = []string{clientID} }, false},
		{"SNI changed", func(c *config.Cluster) { c.TLS.SNI = "p81.inbound.weft" }, false},
		{"ALPN changed", func(c *config.Cluster) { c.TLS.ALPN = []string{"h2"} }, false},
		{"protocol changed", func(c *config.Cluster) { c.Protocol = config.HTTP2 }, false},
		{"TLS removed", func(c *config.Cluster) { c.TLS = nil }, false},
		{"connect timeout changed", func(c *config.Cluster) { c.ConnectTimeout = 2 * time.Second }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tlsCluster("svc", []string{serverID}, "10.0.0.1:80", "10.0.0.2:80")
			tc.change(c)
			s2, err := Build(map[string]*config.Cluster{"svc": c}, s1, opts)
			if err != nil {
				t.Fatal(err)
			}
			if reused := ep(s2, 0) == ep(s1, 0); reused != tc.wantReused {
				t.Fatalf("endpoint reused: %v, want %v", reused, tc.wantReused)
			}
			retired := s2.Retired(s1)
			if tc.wantReused != (len(retired) == 0) {
				t.Fatalf("retired %d endpoints, want reuse %v", len(retired), tc.wantReused)
			}
		})
	}

	// A widened identity list takes effect on the shared endpoint only on Activate.
	c := tlsCluster("svc", []string{serverID, clientID}, "10.0.0.1:80")
	s2, err := Build(map[string]*config.Cluster{"svc": c}, s1, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ep(s1, 0).d.policy.Load().Exact; len(got) != 1 {
		t.Fatalf("policy changed before Activate: %v", got)
	}
	s2.Activate()
	if got := ep(s1, 0).d.policy.Load().Exact; len(got) != 2 {
		t.Fatalf("policy after Activate: %v", got)
	}
	if r := s2.Retired(s1); len(r) != 1 || r[0].Address() != "10.0.0.2:80" {
		t.Fatalf("Retired = %v, want the removed 10.0.0.2:80", r)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]*config.Cluster
		want string
	}{
		{"bad address", map[string]*config.Cluster{"a": {Name: "a", Endpoints: []config.Endpoint{{Address: "nohost"}}}}, `cluster "a": endpoints[0]: address "nohost"`},
		{"bad port", map[string]*config.Cluster{"a": {Name: "a", Endpoints: []config.Endpoint{{Address: "h:99999"}}}}, "bad port"},
		{"name mismatch", map[string]*config.Cluster{"a": {Name: "b"}}, `cluster "a": named "b"`},
		{"nil", map[string]*config.Cluster{"a": nil}, `cluster "a": nil`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.cfg, nil, testOptions(nil, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPickRoundRobin(t *testing.T) {
	c := &config.Cluster{Name: "rr", Endpoints: []config.Endpoint{{Address: "a:1"}, {Address: "b:1"}, {Address: "c:1"}}}
	s, err := Build(map[string]*config.Cluster{"rr": c}, nil, testOptions(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := s.Cluster("rr")
	counts := map[string]int{}
	for range 300 {
		counts[cl.Pick().Address()]++
	}
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		if counts[a] != 100 {
			t.Fatalf("round robin counts %v, want 100 each", counts)
		}
	}
	empty, _ := Build(map[string]*config.Cluster{"e": {Name: "e"}}, nil, testOptions(nil, nil))
	if ec, _ := empty.Cluster("e"); ec.Pick() != nil {
		t.Fatal("Pick on an empty cluster returned an endpoint")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = cl.Pick() }); allocs != 0 {
		t.Fatalf("Pick allocates %.1f", allocs)
	}
}

// tlsServer accepts mutual TLS with cert and records the client certificate's URI.
func tlsServer(t *testing.T, ca *testpki.CA, cert *tls.Certificate, alpn string) (string, *atomic.Value) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	seen := &atomic.Value{}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots,
		NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13,
	})
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
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				seen.Store(tc.ConnectionState().PeerCertificates[0].URIs[0].String())
				_, _ = tc.Write([]byte("ok"))
			}
			tc.Close()
		}
	}()
	return ln.Addr().String(), seen
}

func TestDialMutualTLS(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	addr, seen := tlsServer(t, ca, ca.Leaf(t, serverID), "http/1.1")
	clientCert := ca.Leaf(t, clientID)

	tests := []struct {
		name  string
		sans  []string
		roots *x509.CertPool
		want  error
	}{
		{"allowed server", []string{serverID}, roots, nil},
		{"server identity not allowed", []string{"spiffe://weft.test/ns/default/sa/other"}, roots, mtls.ErrSANMismatch},
		{"no trust bundle", []string{serverID}, nil, mtls.ErrUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(map[string]*config.Cluster{"svc": tlsCluster("svc", tc.sans, addr)}, nil, testOptions(clientCert, tc.roots))
			if err != nil {
				t.Fatal(err)
			}
			cl, _ := s.Cluster("svc")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := cl.Pick().Dial(ctx)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Dial: %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			defer conn.Close()
			tc2 := conn.(*tls.Conn)
			if p := tc2.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Fatalf("ALPN %q", p)
			}
			if tc2.ConnectionState().ServerName != "p80.inbound.weft" {
				t.Fatalf("SNI %q", tc2.ConnectionState().ServerName)
			}
			buf := make([]byte, 2)
			if _, err := conn.Read(buf); err != nil || string(buf) != "ok" {
				t.Fatalf("read %q %v", buf, err)
			}
			if got := seen.Load(); got != clientID {
				t.Fatalf("server saw client %v", got)
			}
		})
	}
}

type countGauge struct{ n atomic.Int64 }

func (g *countGauge) Inc() { g.n.Add(1) }
func (g *countGauge) Dec() { g.n.Add(-1) }

func TestUpstreamConnectionGauge(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	g := &countGauge{}
	opts := testOptions(nil, nil)
	opts.Gauge = func(string) Gauge { return g }
	s, err := Build(map[string]*config.Cluster{"p": {Name: "p", Endpoints: []config.Endpoint{{Address: ln.Addr().String()}}}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := s.Cluster("p")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c1, err := cl.Pick().Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := cl.Pick().Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.n.Load() != 2 {
		t.Fatalf("gauge %d with two open connections", g.n.Load())
	}
	c1.Close()
	c1.Close() // closing twice counts once
	if g.n.Load() != 1 {
		t.Fatalf("gauge %d after one close", g.n.Load())
	}
	if cw, ok := c2.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		t.Fatal("a plaintext upstream connection must support half-close")
	}
	c2.Close()
	if g.n.Load() != 0 {
		t.Fatalf("gauge %d after closing all", g.n.Load())
	}
}
