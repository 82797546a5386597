package dataplane

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// permissive turns the inbound listener of c into what translate emits for PERMISSIVE on a
// single port: TLS chains match "tls", a plaintext twin of the chain of port serves the
// rest, and the listener detects TLS within bound. With port 0, no plaintext chain: the
// listener refuses plaintext after telling it apart (several ports).
func permissive(c *config.Config, port int, bound time.Duration) *config.Config {
	l := c.Listeners["inbound"]
	l.Detection = &config.Detection{Timeout: bound, ContinueOnTimeout: true}
	var plain *config.FilterChain
	for _, fc := range l.FilterChains {
		fc.TransportProtocol = config.TransportTLS
		if fc.ServerNames[0] == sni(port) {
			twin := *fc
			twin.Name = wire.InboundPlaintextChainName(int32(port))
			twin.ServerNames, twin.TLS, twin.TransportProtocol = nil, nil, config.TransportRaw
			plain = &twin
		}
	}
	if plain != nil {
		l.FilterChains = append(l.FilterChains, plain)
	}
	return c
}

// meshCaller points the caller's outbound HTTP listener at the callee's inbound port 8080.
func meshCaller(t *testing.T, p *pair, inbound string) string {
	t.Helper()
	cl := meshCluster("outbound|8080||web.default", 8080, config.HTTP1, []string{calleeID}, inbound)
	mustApply(t, p.caller, outboundConfig("out", p.ca.PEM, routeTo("svc", cl.Name), cl))
	return "http://" + listenerAddr(t, p.caller, "outbound")
}

// plainGet sends one plaintext HTTP/1.1 request on a new connection and returns the status
// line, or "" when the connection ends without an answer.
func plainGet(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /plain HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"); err != nil {
		return ""
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestPermissiveServesTLSAndPlaintextOnOnePort(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "web")
	mustApply(t, p.callee, permissive(inboundConfig("in", p.ca.PEM, appPort{port: 8080, proto: config.HTTP1, target: app.addr()}), 8080, 100*time.Millisecond))
	inbound := listenerAddr(t, p.callee, "inbound")

	// A mesh caller, over mutual TLS.
	res, err := get(t, httpClient(t), meshCaller(t, p, inbound)+"/mesh", nil)
	if err != nil || res.status != 200 || res.body != "web GET /mesh " {
		t.Fatalf("mesh call: %+v, %v", res, err)
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextConnections, nil); n != 0 {
		t.Errorf("a mutual-TLS call was counted as plaintext (%v)", n)
	}

	// A plaintext client on the same port, HTTP/1.1 then HTTP/2 with prior knowledge.
	if line := plainGet(t, inbound); line != "HTTP/1.1 200 OK" {
		t.Fatalf("plaintext HTTP/1.1: status line %q", line)
	}
	res, err = get(t, h2cClient(t), "http://"+inbound+"/h2c", nil)
	if err != nil || res.status != 200 || res.header.Get("X-Seen-Proto") == "" {
		t.Fatalf("plaintext h2c: %+v, %v", res, err)
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextConnections, map[string]string{"listener": "inbound", "port": "8080"}); n != 2 {
		t.Errorf("%s{listener=inbound,port=8080} = %v, want 2", MetricPlaintextConnections, n)
	}
	rep := p.callee.PlaintextReport()
	if len(rep.Sources) != 1 {
		t.Fatalf("plaintext report: %+v, want one source", rep)
	}
	s := rep.Sources[0]
	if s.Address != "127.0.0.1" || s.Port != 8080 || s.Listener != "inbound" || s.Count != 2 || s.FirstSeen.IsZero() || s.LastSeen.Before(s.FirstSeen) {
		t.Errorf("plaintext source = %+v, want 127.0.0.1 on inbound port 8080, 2 connections", s)
	}
}

func TestPermissivePlaintextTCP(t *testing.T) {
	p := newPair(t)
	echo := startEchoApp(t)
	mustApply(t, p.callee, permissive(inboundConfig("in", p.ca.PEM, appPort{port: 6379, target: echo, tcp: true}), 6379, 100*time.Millisecond))
	c, err := net.DialTimeout("tcp", listenerAddr(t, p.callee, "inbound"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The first byte is 0x16, as a TLS record, but the second is not a TLS version.
	msg := "\x16 not TLS\r\nPING\r\n"
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextConnections, map[string]string{"port": "6379"}); n != 1 {
		t.Errorf("plaintext TCP connections = %v, want 1", n)
	}
}

// startBannerApp is a server that speaks first: it writes a banner on accept and closes.
func startBannerApp(t *testing.T, banner string) string {
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
			_, _ = io.WriteString(c, banner)
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// readBanner connects and only reads, as a client of a server-first protocol does; it returns
// the banner and how long it took.
func readBanner(t *testing.T, addr string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the banner from %s: got %q, %v", addr, line, err)
	}
	return line, time.Since(start)
}

func TestServerFirstClientGetsTheBannerWithinTheBound(t *testing.T) {
	p := newPair(t)
	banner := "220 smtp.weft.test ESMTP ready\r\n"
	app := startBannerApp(t, banner)
	const bound = 20 * time.Millisecond
	mustApply(t, p.callee, permissive(inboundConfig("in", p.ca.PEM, appPort{port: 2525, target: app, tcp: true}), 2525, bound))
	inbound := listenerAddr(t, p.callee, "inbound")

	// A plaintext client that waits for the server.
	got, took := readBanner(t, inbound)
	if got != banner {
		t.Fatalf("banner = %q, want %q", got, banner)
	}
	// The wait is the bound plus a connection to the app; far less than a second even on a
	// loaded machine, and never the handshake timeout (10s).
	if took > time.Second {
		t.Errorf("the banner took %s, want about the %s bound", took, bound)
	}
	if n := metricValue(t, p.calleeReg, MetricDetectionTimeouts, map[string]string{"listener": "inbound"}); n != 1 {
		t.Errorf("%s = %v, want 1 (the silent client is counted)", MetricDetectionTimeouts, n)
	}

	// A mesh caller of the same port, through its own proxy, over mutual TLS.
	cl := meshCluster("outbound|2525||smtp.default", 2525, config.TCP, []string{calleeID}, inbound)
	mustApply(t, p.caller, &config.Config{
		Version: "smtp",
		Listeners: map[string]*config.Listener{"outbound": {Name: "outbound", Address: "127.0.0.1:0",
			FilterChains: []*config.FilterChain{{Name: "tcp", TCP: &config.TCPProxy{StatPrefix: "smtp", Cluster: cl.Name}}}}},
		Clusters:    map[string]*config.Cluster{cl.Name: cl},
		TrustBundle: p.ca.PEM,
	})
	if got, _ := readBanner(t, listenerAddr(t, p.caller, "outbound")); got != banner {
		t.Fatalf("banner through the mesh = %q, want %q", got, banner)
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextConnections, nil); n != 1 {
		t.Errorf("plaintext connections = %v, want 1 (the mesh call is mutual TLS)", n)
	}
}

func TestPlaintextRefusedOnASharedPortOfSeveralServicePorts(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "web")
	echo := startEchoApp(t)
	cfg := inboundConfig("in", p.ca.PEM,
		appPort{port: 8080, proto: config.HTTP1, target: app.addr()},
		appPort{port: 6379, target: echo, tcp: true})
	mustApply(t, p.callee, permissive(cfg, 0, 100*time.Millisecond))
	inbound := listenerAddr(t, p.callee, "inbound")

	for i := 0; i < 2; i++ {
		if line := plainGet(t, inbound); line != "" {
			t.Fatalf("plaintext on a shared port of several service ports was answered: %q", line)
		}
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextRefused, map[string]string{"listener": "inbound"}); n != 2 {
		t.Errorf("%s = %v, want 2", MetricPlaintextRefused, n)
	}
	if n := metricValue(t, p.calleeReg, MetricHandshakeFailures, nil); n != 0 {
		t.Errorf("refused plaintext counted as %v handshake failures", n)
	}
	// Mutual TLS still works on the same listener.
	res, err := get(t, httpClient(t), meshCaller(t, p, inbound)+"/mesh", nil)
	if err != nil || res.status != 200 {
		t.Fatalf("mesh call: %+v, %v", res, err)
	}
	if got := p.callee.PlaintextReport().Sources; len(got) != 0 {
		t.Errorf("refused connections in the plaintext report: %+v", got)
	}
}

func TestDisableServesPlaintextOnly(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "web")
	cfg := inboundConfig("in", p.ca.PEM, appPort{port: 8080, proto: config.HTTP1, target: app.addr()})
	// What translate emits for a DISABLE port on a dedicated inbound port.
	fc := cfg.Listeners["inbound"].FilterChains[0]
	fc.Name, fc.ServerNames, fc.TLS, fc.TransportProtocol = wire.InboundPlaintextChainName(8080), nil, nil, config.TransportRaw
	mustApply(t, p.callee, cfg)
	inbound := listenerAddr(t, p.callee, "inbound")

	if line := plainGet(t, inbound); line != "HTTP/1.1 200 OK" {
		t.Fatalf("plaintext: status line %q", line)
	}
	if err := tlsHandshake(inbound, p.callerCerts.Certificate(), p.ca.PEM, tls.VersionTLS13); err == nil {
		t.Error("a TLS client was served on a plaintext-only port")
	}
	if n := metricValue(t, p.calleeReg, MetricPlaintextConnections, map[string]string{"port": "8080"}); n < 1 {
		t.Errorf("plaintext connections = %v, want at least 1", n)
	}
}

// tlsHandshake completes a TLS handshake with the callee's inbound port 8080 chain as a mesh
// peer, offering only version.
func tlsHandshake(addr string, cert *tls.Certificate, rootPEM []byte, version uint16) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		ServerName:         sni(8080),
		InsecureSkipVerify: true, // the test checks the server, not the proxy's identity
		Certificates:       []tls.Certificate{*cert},
		MinVersion:         version,
		MaxVersion:         version,
		NextProtos:         []string{"http/1.1"},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	// With TLS 1.3 the server checks the client certificate after the client's handshake is
	// done: read to learn whether it was refused.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	return err
}

func TestMinimumTLSVersion(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "web")
	cfg := inboundConfig("in", p.ca.PEM, appPort{port: 8080, proto: config.HTTP1, target: app.addr()})
	mustApply(t, p.callee, cfg)
	inbound := listenerAddr(t, p.callee, "inbound")
	cert := p.callerCerts.Certificate()

	if err := tlsHandshake(inbound, cert, p.ca.PEM, tls.VersionTLS12); err == nil {
		t.Error("a TLS 1.2 client was served by a listener of the default minimum, TLS 1.3")
	}
	if err := tlsHandshake(inbound, cert, p.ca.PEM, tls.VersionTLS13); err != nil {
		t.Errorf("TLS 1.3 client: %v", err)
	}

	cfg2 := inboundConfig("in2", p.ca.PEM, appPort{port: 8080, proto: config.HTTP1, target: app.addr()})
	// The same address string: the socket is kept, its view swapped.
	cfg2.Listeners["inbound"].FilterChains[0].TLS.Params = &config.TLSParams{MinVersion: tls.VersionTLS12}
	mustApply(t, p.callee, cfg2)
	if err := tlsHandshake(inbound, cert, p.ca.PEM, tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2 client with a TLS 1.2 minimum: %v", err)
	}
}

// A plaintext connection opened under PERMISSIVE is not served once the port is STRICT: its
// next request gets 421 and the connection closes; a new plaintext connection is refused.
func TestPlaintextConnectionAfterSwitchToStrict(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "web")
	port := appPort{port: 8080, proto: config.HTTP1, target: app.addr()}
	mustApply(t, p.callee, permissive(inboundConfig("permissive", p.ca.PEM, port), 8080, 100*time.Millisecond))
	inbound := listenerAddr(t, p.callee, "inbound")

	c, err := net.DialTimeout("tcp", inbound, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	request := func() int {
		if _, err := io.WriteString(c, "GET /keep HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := request(); got != http.StatusOK {
		t.Fatalf("under PERMISSIVE: %d", got)
	}

	mustApply(t, p.callee, inboundConfig("strict", p.ca.PEM, port))
	if got := request(); got != http.StatusMisdirectedRequest {
		t.Errorf("after STRICT, on the open connection: %d, want 421", got)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("the connection stayed open after the 421: %v", err)
	}
	if line := plainGet(t, inbound); line != "" {
		t.Errorf("a new plaintext connection after STRICT was answered: %q", line)
	}
}
