package dataplane

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
)

const otherID = "spiffe://weft.test/ns/default/sa/other"

// testAuthz is what translate emits for: DENY /admin/ to everyone (ops/deny-admin); ALLOW the
// caller anything (default/allow-caller); a dry-run DENY of DELETE (default/no-delete).
func testAuthz() *config.Authz {
	any := []*config.Principal{{Any: true}}
	return &config.Authz{Filters: []*config.RBACFilter{
		{Rules: &config.RBACRules{Action: config.RBACDeny, Policies: []*config.RBACPolicy{{
			Name: "ops/deny-admin/rule/0", Permissions: []*config.Permission{{Path: &config.StringMatch{Prefix: "/admin/"}}}, Principals: any,
		}}}},
		{Rules: &config.RBACRules{Action: config.RBACAllow, Policies: []*config.RBACPolicy{{
			Name:        "default/allow-caller/rule/0",
			Permissions: []*config.Permission{{Any: true}},
			Principals:  []*config.Principal{{Authenticated: true, PrincipalName: &config.StringMatch{Exact: callerID}}},
		}}}},
		{Shadow: &config.RBACRules{Action: config.RBACDeny, Policies: []*config.RBACPolicy{{
			Name:        "default/no-delete/rule/0",
			Permissions: []*config.Permission{{Header: &config.HeaderMatch{Name: ":method", Exact: "DELETE"}}},
			Principals:  any,
		}}}},
	}}
}

// authzCallee applies to the callee an inbound listener whose chains (an HTTP/1.1 port 8080
// to app, an HTTP/2 port 9090 to h2app, a TCP port 7000 to an echo server) carry testAuthz,
// and returns the listener's address.
func authzCallee(t *testing.T, p *pair, app, h2app *httpApp) string {
	t.Helper()
	c := inboundConfig("authz", p.ca.PEM,
		appPort{port: 8080, proto: config.HTTP1, target: app.addr()},
		appPort{port: 9090, proto: config.HTTP2, target: h2app.addr()},
		appPort{port: 7000, target: startEchoApp(t), tcp: true})
	for _, fc := range c.Listeners["inbound"].FilterChains {
		fc.Name = strings.Replace(fc.Name, "port-", "inbound|", 1)
		if fc.HTTP != nil {
			fc.HTTP.Authz = testAuthz()
		} else {
			fc.TCP.Authz = testAuthz()
		}
	}
	mustApply(t, p.callee, c)
	return listenerAddr(t, p.callee, "inbound")
}

// dialAs opens a mutual-TLS connection to the inbound listener as id, for a service port.
func dialAs(t *testing.T, p *pair, addr, id string, port int, alpn string) *tls.Conn {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.ca.PEM)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		ServerName:   sni(port),
		RootCAs:      roots,
		Certificates: []tls.Certificate{*p.ca.Leaf(t, id)},
		NextProtos:   []string{alpn},
		// The callee's certificate names a SPIFFE ID, not the SNI.
		InsecureSkipVerify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// rawRequest sends a request head as written and returns the status and body of the answer.
func rawRequest(t *testing.T, c net.Conn, br *bufio.Reader, method, target string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, method+" "+target+" HTTP/1.1\r\nHost: payments\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The known ways around a DENY of "/admin/*", on the HTTP/1.1 fast path: each is denied, or
// refused with 400, or (what is documented as not the same path) reaches the app with its
// normalised path.
func TestAuthzFastPathBypasses(t *testing.T) {
	p := newPair(t)
	app, h2app := newHTTPApp(t, "app"), newH2CApp(t, "h2app")
	addr := authzCallee(t, p, app, h2app)
	c := dialAs(t, p, addr, callerID, 8080, "http/1.1")
	br := bufio.NewReader(c)
	tests := []struct {
		target string
		status int
		body   string // the app's answer, or the proxy's
	}{
		{"/admin/x", 403, authzDeniedText + "\n"},
		{"//admin/x", 403, authzDeniedText + "\n"},
		{"/./admin/x", 403, authzDeniedText + "\n"},
		{"/public/../admin/x", 403, authzDeniedText + "\n"},
		{"/%61dmin/x", 403, authzDeniedText + "\n"},
		{"/%2e%2e/admin/x", 403, authzDeniedText + "\n"},
		{"/admin/x?y=1", 403, authzDeniedText + "\n"},
		{"/admin/x;y", 403, authzDeniedText + "\n"},
		{"http://payments/admin//x", 403, authzDeniedText + "\n"},
		{"/admin%2fx", 400, "bad request: the path has an encoded slash or backslash\n"},
		{"/admin%5Cx", 400, "bad request: the path has an encoded slash or backslash\n"},
		// Paths are case-sensitive: /ADMIN/ is another path.
		{"/ADMIN/x", 200, "app GET /ADMIN/x "},
		// A path parameter is part of its segment: "/admin;x" is not under "/admin/".
		{"/admin;x", 200, "app GET /admin;x "},
		// What reaches the app is the normalised path.
		{"//public/./a/../b%7e?q=1", 200, "app GET /public/b~ "},
	}
	for _, tt := range tests {
		status, body := rawRequest(t, c, br, "GET", tt.target)
		if status != tt.status || body != tt.body {
			t.Errorf("GET %s = %d %q, want %d %q", tt.target, status, body, tt.status, tt.body)
		}
	}
	if got := metricValue(t, p.calleeReg, "weft_authz_denied_total", map[string]string{"policy": "ops/deny-admin"}); got != 9 {
		t.Errorf("denied by ops/deny-admin = %v, want 9", got)
	}
}

func TestAuthzFastPathCallers(t *testing.T) {
	p := newPair(t)
	app, h2app := newHTTPApp(t, "app"), newH2CApp(t, "h2app")
	addr := authzCallee(t, p, app, h2app)

	other := dialAs(t, p, addr, otherID, 8080, "http/1.1")
	if status, body := rawRequest(t, other, bufio.NewReader(other), "GET", "/api"); status != 403 || body != authzDeniedText+"\n" {
		t.Errorf("another identity: %d %q, want 403", status, body)
	}
	if got := metricValue(t, p.calleeReg, "weft_authz_denied_total", map[string]string{"policy": "default/allow-caller"}); got != 1 {
		t.Errorf("denied for default/allow-caller = %v, want 1", got)
	}

	// The dry run lets DELETE through and counts it.
	caller := dialAs(t, p, addr, callerID, 8080, "http/1.1")
	if status, body := rawRequest(t, caller, bufio.NewReader(caller), "DELETE", "/items/1"); status != 200 || body != "app DELETE /items/1 " {
		t.Errorf("DELETE under a dry run: %d %q, want 200", status, body)
	}
	if got := metricValue(t, p.calleeReg, "weft_authz_audit_total", map[string]string{"policy": "default/no-delete", "result": "would_deny"}); got != 1 {
		t.Errorf("would_deny = %v, want 1", got)
	}
}

// HTTP/2 and gRPC requests take net/http: the same decisions, gRPC denials as
// PERMISSION_DENIED, and the normalised path forwarded.
func TestAuthzHTTP2AndGRPC(t *testing.T) {
	p := newPair(t)
	app, h2app := newHTTPApp(t, "app"), newH2CApp(t, "h2app")
	addr := authzCallee(t, p, app, h2app)
	client := func(id string) *http.Client {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(p.ca.PEM)
		tr := &http.Transport{
			ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{ServerName: sni(9090), RootCAs: roots, InsecureSkipVerify: true,
				Certificates: []tls.Certificate{*p.ca.Leaf(t, id)}},
			DialTLSContext: nil,
		}
		tr.DialContext = (&net.Dialer{}).DialContext
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	do := func(c *http.Client, method, path, contentType string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = "" // keep the path as written
		req.URL.RawPath = path
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s %s went over %s, want HTTP/2", method, path, resp.Proto)
		}
		return resp, string(body)
	}
	caller, other := client(callerID), client(otherID)

	if resp, body := do(caller, "GET", "/public/../b", ""); resp.StatusCode != 200 || body != "h2app GET /b " {
		t.Errorf("normalised path: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(caller, "GET", "/admin/x", ""); resp.StatusCode != 403 || body != authzDeniedText+"\n" {
		t.Errorf("DENY over HTTP/2: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(caller, "GET", "/a%2Fb", ""); resp.StatusCode != 400 {
		t.Errorf("encoded slash over HTTP/2: %d, want 400", resp.StatusCode)
	}
	resp, _ := do(other, "POST", "/pkg.Service/Method", "application/grpc")
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "7" || resp.Header.Get("Grpc-Message") != authzDeniedText {
		t.Errorf("gRPC from another identity: %d grpc-status %q grpc-message %q, want 200, 7, %q",
			resp.StatusCode, resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"), authzDeniedText)
	}
}

// A TCP connection that the authorization refuses is closed after the handshake, before any
// byte reaches the app.
func TestAuthzTCP(t *testing.T) {
	p := newPair(t)
	app, h2app := newHTTPApp(t, "app"), newH2CApp(t, "h2app")
	addr := authzCallee(t, p, app, h2app)

	denied := dialAs(t, p, addr, otherID, 7000, "weft-tcp")
	_, _ = denied.Write([]byte("ping"))
	if got, err := io.ReadAll(denied); len(got) != 0 {
		t.Errorf("denied connection read %q (%v), want nothing", got, err)
	}
	if got := metricValue(t, p.calleeReg, "weft_authz_denied_total", map[string]string{"policy": "default/allow-caller"}); got != 1 {
		t.Errorf("denied connections = %v, want 1", got)
	}

	allowed := dialAs(t, p, addr, callerID, 7000, "weft-tcp")
	if _, err := allowed.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(allowed, buf); err != nil || !bytes.Equal(buf, []byte("ping")) {
		t.Errorf("allowed connection echoed %q, %v", buf, err)
	}
}

// TestAuthzFastPathAllocations: a request the authorization allows, whose path is
// normalised and rewritten, allocates nothing more than a request on a chain without
// authorization (see TestFastPathAllocations).
func TestAuthzFastPathAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation measurement skipped in -short mode and under the race detector")
	}
	p := newPair(t)
	app := startRawApp(t)
	c := inboundConfig("in", p.ca.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()})
	c.Listeners["inbound"].FilterChains[0].HTTP.Authz = testAuthz()
	mustApply(t, p.callee, c)
	cl := meshCluster("outbound|80||svc.default", 80, config.HTTP1, []string{calleeID}, listenerAddr(t, p.callee, "inbound"))
	mustApply(t, p.caller, outboundConfig("out", p.ca.PEM, routeTo("svc", cl.Name), cl))

	rc := newRawClient(t, listenerAddr(t, p.caller, "outbound"))
	defer rc.c.Close()
	rc.req = []byte("GET //bench/./x/../y?q=1 HTTP/1.1\r\nHost: svc.default:80\r\n\r\n")
	for range 100 {
		if err := rc.do(); err != nil {
			t.Fatal(err)
		}
	}
	var failed error
	allocs := testing.AllocsPerRun(500, func() {
		if err := rc.do(); err != nil && failed == nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	t.Logf("%.2f allocations per proxied request", allocs)
	if allocs > 2 {
		t.Fatalf("%.2f allocations per request, want at most 2 (crypto/tls's, as without authorization)", allocs)
	}
}
