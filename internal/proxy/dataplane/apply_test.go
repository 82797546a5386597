package dataplane

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// TestApplyRefusesBadConfigs: a refused config names what is wrong and changes nothing: the
// config in force stays, and so do its listeners.
func TestApplyRefusesBadConfigs(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	good := func(version string) *config.Config {
		return outboundConfig(version, p.ca.PEM, routeTo("svc", "app"),
			&config.Cluster{Name: "app", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: app.addr()}}})
	}
	mustApply(t, p.caller, good("good"))
	addr := listenerAddr(t, p.caller, "outbound")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name   string
		change func(c *config.Config)
		want   string
	}{
		{"missing route table", func(c *config.Config) { delete(c.Routes, "svc") }, `listener "outbound": filter_chains[0]: route table "svc" not found`},
		{"route to a missing cluster", func(c *config.Config) { delete(c.Clusters, "app") }, `route "default": cluster "app" not found`},
		{"tcp proxy to a missing cluster", func(c *config.Config) {
			c.Listeners["tcp"] = &config.Listener{Name: "tcp", Address: "127.0.0.1:0",
				FilterChains: []*config.FilterChain{{TCP: &config.TCPProxy{Cluster: "nowhere"}}}}
		}, `listener "tcp": filter_chains[0]: tcp proxy: cluster "nowhere" not found`},
		{"address in use", func(c *config.Config) {
			// "a-first" binds before "second" fails: it must be unbound again.
			c.Listeners["a-first"] = &config.Listener{Name: "a-first", Address: "127.0.0.1:0",
				FilterChains: []*config.FilterChain{{HTTP: &config.HTTPConnectionManager{RouteName: "svc"}}}}
			c.Listeners["second"] = &config.Listener{Name: "second", Address: busy.Addr().String(),
				FilterChains: []*config.FilterChain{{HTTP: &config.HTTPConnectionManager{RouteName: "svc"}}}}
		}, `listener "second": binding ` + busy.Addr().String()},
		{"bad address", func(c *config.Config) { c.Listeners["outbound"].Address = "localhost" }, `listener "outbound": address "localhost"`},
		{"bad trust bundle", func(c *config.Config) { c.TrustBundle = []byte("junk") }, "parsing trust bundle"},
		{"no filter chain", func(c *config.Config) { c.Listeners["outbound"].FilterChains = nil }, "no filter chain"},
		{"chain with both HTTP and TCP", func(c *config.Config) {
			c.Listeners["outbound"].FilterChains[0].TCP = &config.TCPProxy{Cluster: "app"}
		}, "both an HTTP connection manager and a TCP proxy"},
		{"TLS and plaintext chains mixed", func(c *config.Config) {
			l := c.Listeners["outbound"]
			l.FilterChains = append(l.FilterChains, &config.FilterChain{TLS: &config.DownstreamTLS{},
				HTTP: &config.HTTPConnectionManager{RouteName: "svc"}})
		}, "mixes TLS and plaintext"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := good("bad")
			tc.change(bad)
			err := p.caller.Apply(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if v := p.caller.Current().Version; v != "good" {
				t.Fatalf("config in force is %q after a refused update", v)
			}
			if got := listenerAddr(t, p.caller, "outbound"); got != addr {
				t.Fatalf("listener moved from %s to %s", addr, got)
			}
			for _, name := range []string{"a-first", "second", "tcp"} {
				if _, ok := p.caller.ListenerAddr(name); ok {
					t.Fatalf("listener %q of the refused config is bound", name)
				}
			}
			res, err := get(t, httpClient(t), "http://"+addr+"/", nil)
			if err != nil || res.status != 200 {
				t.Fatalf("serving after a refused update: %v %d", err, res.status)
			}
		})
	}
	if err := p.caller.Apply(nil); err == nil {
		t.Fatal("Apply(nil) succeeded")
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without Certs succeeded")
	}
}

// TestListenerMovesAddress: the same listener name on a new address binds the new address and
// releases the old one.
func TestListenerMovesAddress(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	c := outboundConfig("a", p.ca.PEM, routeTo("svc", "app"),
		&config.Cluster{Name: "app", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: app.addr()}}})
	mustApply(t, p.caller, c)
	old := listenerAddr(t, p.caller, "outbound")

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	newAddr := free.Addr().String()
	free.Close()
	c2 := outboundConfig("b", p.ca.PEM, routeTo("svc", "app"), c.Clusters["app"])
	c2.Listeners["outbound"].Address = newAddr
	mustApply(t, p.caller, c2)
	if got := listenerAddr(t, p.caller, "outbound"); got != newAddr {
		t.Fatalf("listener on %s, want %s", got, newAddr)
	}
	waitFor(t, "the old address to be released", 5*time.Second, func() bool { return dialRefused(old) })
	if res, err := get(t, httpClient(t), "http://"+newAddr+"/", nil); err != nil || res.status != 200 {
		t.Fatalf("new address: %v %d", err, res.status)
	}
}

// TestFastPathConnectionFollowsSwitchToHTTP2: a kept-alive HTTP/1.1 connection on the fast
// path whose route comes to reach an HTTP/2 cluster is served through net/http, not failed.
func TestFastPathConnectionFollowsSwitchToHTTP2(t *testing.T) {
	p := newPair(t)
	app := newH2CApp(t, "app")
	cfg := func(proto config.Protocol) *config.Config {
		return outboundConfig(proto.String(), p.ca.PEM, routeTo("svc", "app"),
			&config.Cluster{Name: "app", Protocol: proto, Endpoints: []config.Endpoint{{Address: app.addr()}}})
	}
	mustApply(t, p.caller, cfg(config.HTTP1))
	url := "http://" + listenerAddr(t, p.caller, "outbound") + "/"
	c := httpClient(t)

	do := func() (proto string, reused bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, body error %v", resp.StatusCode, err)
		}
		return resp.Header.Get("X-Seen-Proto"), reused
	}
	if proto, _ := do(); proto != "HTTP/1.1" {
		t.Fatalf("before the switch the app saw %s", proto)
	}
	mustApply(t, p.caller, cfg(config.HTTP2))
	proto, reused := do()
	if !reused || proto != "HTTP/2.0" {
		t.Fatalf("on the kept-alive connection: reused %v, app saw %s; want reused and HTTP/2.0", reused, proto)
	}
	if proto, _ := do(); proto != "HTTP/2.0" {
		t.Fatalf("after the switch the app saw %s", proto)
	}
}

// TestMissingCertificate: without a certificate yet, handshakes fail cleanly on both sides.
func TestMissingCertificate(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	p.calleeCerts.Set(nil)
	url := meshHTTP(t, p, app)
	res, err := get(t, httpClient(t), url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != 503 && res.status != 502 {
		t.Fatalf("status %d, want the proxy's 502/503", res.status)
	}
	p.calleeCerts.Set(p.ca.Leaf(t, calleeID))
	res, err = get(t, httpClient(t), url+"/", nil)
	if err != nil || res.status != 200 {
		t.Fatalf("after the certificate arrived: %v %d", err, res.status)
	}
}
