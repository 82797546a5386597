package dataplane

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// meshHTTP sets up caller -> mTLS -> callee -> app for an HTTP/1.1 service on port 80 and
// returns the caller's outbound URL.
func meshHTTP(t testing.TB, p *pair, app interface{ addr() string }) string {
	t.Helper()
	mustApply(t, p.callee, inboundConfig("in-1", p.ca.PEM, appPort{port: 80, proto: config.HTTP1, target: app.addr()}))
	inbound := listenerAddr(t, p.callee, "inbound")
	cl := meshCluster("outbound|80||svc.default", 80, config.HTTP1, []string{calleeID}, inbound)
	mustApply(t, p.caller, outboundConfig("out-1", p.ca.PEM, routeTo("svc", cl.Name), cl))
	return "http://" + listenerAddr(t, p.caller, "outbound")
}

func TestHTTP1ThroughMutualTLS(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	url := meshHTTP(t, p, app)
	c := httpClient(t)

	const n = 20
	for i := range n {
		res, err := get(t, c, fmt.Sprintf("%s/hello/%d?q=1", url, i), map[string]string{"Host": "svc.default:80"})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if res.status != 200 {
			t.Fatalf("request %d: status %d, body %q", i, res.status, res.body)
		}
		if want := fmt.Sprintf("app GET /hello/%d ", i); res.body != want {
			t.Fatalf("request %d: body %q, want %q", i, res.body, want)
		}
		if got := res.header.Get("X-Seen-Host"); got != "svc.default:80" {
			t.Fatalf("app saw Host %q, want the original authority", got)
		}
	}
	for _, m := range []struct {
		reg  string
		name string
	}{{"caller", "outbound"}, {"callee", "inbound"}} {
		reg := p.callerReg
		if m.reg == "callee" {
			reg = p.calleeReg
		}
		// A request is counted once its response is written, so the client may see the last
		// response a moment before the count.
		labels := map[string]string{"listener": m.name, "class": "2xx"}
		waitFor(t, fmt.Sprintf("%s to count %d requests on %s", m.reg, n, m.name), 5*time.Second, func() bool {
			return metricValue(t, reg, MetricRequests, labels) == n
		})
	}
	if got := metricValue(t, p.callerReg, MetricUpstreamActive, map[string]string{"cluster": "outbound|80||svc.default"}); got < 1 {
		t.Errorf("caller upstream connections = %v, want at least one pooled connection", got)
	}
	// Both hops took the fast path over persistent pooled connections: one client connection
	// in sequence needs one upstream connection per hop.
	for _, hop := range []struct {
		r       *Runtime
		cluster string
	}{{p.caller, "outbound|80||svc.default"}, {p.callee, "inbound|80"}} {
		st := endpointStats(t, hop.r, hop.cluster)
		if !st.FastPath || st.NetHTTP {
			t.Errorf("%s: fast path %v, net/http %v: want the fast path only", hop.cluster, st.FastPath, st.NetHTTP)
		}
		if st.H1.Dials != 1 || st.H1.Reuses != n-1 {
			t.Errorf("%s: %d dials, %d reuses; want 1 dial and %d reuses", hop.cluster, st.H1.Dials, st.H1.Reuses, n-1)
		}
	}
}

// TestProtocolCombinations runs each downstream protocol against each cluster protocol through
// caller -> mTLS -> callee -> app.
func TestProtocolCombinations(t *testing.T) {
	tests := []struct {
		name        string
		client      func(testing.TB) *http.Client
		cluster     config.Protocol
		wantAppSaw  string
		wantNetHTTP bool
	}{
		{"http1 to http1 cluster", httpClient, config.HTTP1, "HTTP/1.1", false},
		{"http1 to http2 cluster", httpClient, config.HTTP2, "HTTP/2.0", true},
		{"h2c to http1 cluster", h2cClient, config.HTTP1, "HTTP/1.1", true},
		{"h2c to http2 cluster", h2cClient, config.HTTP2, "HTTP/2.0", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			app := newH2CApp(t, "app")
			mustApply(t, p.callee, inboundConfig("in", p.ca.PEM, appPort{port: 80, proto: tc.cluster, target: app.addr()}))
			cl := meshCluster("svc", 80, tc.cluster, []string{calleeID}, listenerAddr(t, p.callee, "inbound"))
			mustApply(t, p.caller, outboundConfig("out", p.ca.PEM, routeTo("svc", "svc"), cl))
			c := tc.client(t)
			for i := range 3 {
				res, err := get(t, c, fmt.Sprintf("http://%s/p/%d", listenerAddr(t, p.caller, "outbound"), i), nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.status != 200 || res.body != fmt.Sprintf("app GET /p/%d ", i) {
					t.Fatalf("status %d body %q", res.status, res.body)
				}
				if got := res.header.Get("X-Seen-Proto"); got != tc.wantAppSaw {
					t.Fatalf("app saw %s, want %s", got, tc.wantAppSaw)
				}
			}
			if st := endpointStats(t, p.caller, "svc"); st.NetHTTP != tc.wantNetHTTP {
				t.Fatalf("caller used net/http: %v, want %v", st.NetHTTP, tc.wantNetHTTP)
			}
		})
	}
}

func TestHTTPRouting(t *testing.T) {
	p := newPair(t)
	apps := map[string]*httpApp{}
	clusters := []*config.Cluster{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		apps[name] = newHTTPApp(t, name)
		clusters = append(clusters, &config.Cluster{Name: name, Protocol: config.HTTP1,
			Endpoints: []config.Endpoint{{Address: apps[name].addr()}}})
	}
	clusters = append(clusters, &config.Cluster{Name: "empty", Protocol: config.HTTP1})
	to := func(name string) []config.WeightedCluster { return []config.WeightedCluster{{Name: name, Weight: 1}} }
	table := &config.RouteTable{Name: "svc", VirtualHosts: []*config.VirtualHost{
		{Name: "other", Domains: []string{"other.example", "*.wild.example"}, Routes: []*config.Route{
			{Name: "other", Match: config.RouteMatch{Prefix: "/"}, Clusters: to("e")},
		}},
		{Name: "svc", Domains: []string{"*"}, Routes: []*config.Route{
			{Name: "exact", Match: config.RouteMatch{Path: "/exact"}, Clusters: to("b")},
			{Name: "regex", Match: config.RouteMatch{PathRegex: regexp.MustCompile(`/items/[0-9]+`)}, Clusters: to("c")},
			{Name: "canary", Match: config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "x-canary", Exact: "yes"}}}, Clusters: to("d")},
			{Name: "notdebug", Match: config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "x-debug", Present: true, Invert: true}}}, Clusters: to("b")},
			{Name: "api", Match: config.RouteMatch{Prefix: "/api"}, Clusters: to("a")},
			{Name: "teapot", Match: config.RouteMatch{Prefix: "/teapot"}, DirectStatus: 418},
			{Name: "empty", Match: config.RouteMatch{Prefix: "/empty"}, Clusters: to("empty")},
		}},
	}}
	mustApply(t, p.caller, outboundConfig("routes", p.ca.PEM, table, clusters...))
	url := "http://" + listenerAddr(t, p.caller, "outbound")
	c := httpClient(t)

	tests := []struct {
		name       string
		path       string
		hdr        map[string]string
		wantStatus int
		wantApp    string
	}{
		{"exact path", "/exact", nil, 200, "b"},
		{"exact path is not a prefix", "/exact/more", nil, 404, ""},
		{"regex matches whole path", "/items/42", nil, 200, "c"},
		{"regex does not match a longer path", "/items/42/x", nil, 404, ""},
		{"regex ignores the query", "/items/7?x=/y", nil, 200, "c"},
		{"header exact", "/api/x", map[string]string{"X-Canary": "yes", "X-Debug": "1"}, 200, "d"},
		{"header exact mismatch falls through", "/api/x", map[string]string{"X-Canary": "no", "X-Debug": "1"}, 200, "a"},
		{"inverted presence", "/api/x", nil, 200, "b"},
		{"direct status", "/teapot", nil, 418, ""},
		{"no route", "/nothing", nil, 404, ""},
		{"no endpoint", "/empty", nil, 503, ""},
		{"virtual host by exact domain, port stripped", "/api", map[string]string{"Host": "Other.Example:8080"}, 200, "e"},
		{"virtual host by wildcard", "/", map[string]string{"Host": "x.wild.example"}, 200, "e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := get(t, c, url+tc.path, tc.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.status, tc.wantStatus, res.body)
			}
			if got := res.header.Get("X-App"); got != tc.wantApp {
				t.Fatalf("answered by app %q, want %q", got, tc.wantApp)
			}
		})
	}
}

func TestWeightedSplit(t *testing.T) {
	p := newPair(t)
	a, b := newHTTPApp(t, "a"), newHTTPApp(t, "b")
	table := &config.RouteTable{Name: "svc", VirtualHosts: []*config.VirtualHost{{Name: "svc", Domains: []string{"*"},
		Routes: []*config.Route{{Name: "split", Match: config.RouteMatch{Prefix: "/"}, Clusters: []config.WeightedCluster{
			{Name: "a", Weight: 90}, {Name: "b", Weight: 10}}}}}}}
	mustApply(t, p.caller, outboundConfig("split", p.ca.PEM, table,
		&config.Cluster{Name: "a", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: a.addr()}}},
		&config.Cluster{Name: "b", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: b.addr()}}}))
	url := "http://" + listenerAddr(t, p.caller, "outbound")
	c := httpClient(t)

	const n = 1000
	counts := map[string]int{}
	for i := range n {
		res, err := get(t, c, url+"/", nil)
		if err != nil || res.status != 200 {
			t.Fatalf("request %d: %v status %d", i, err, res.status)
		}
		counts[strings.Fields(res.body)[0]]++
	}
	// 90% of 1000: the standard deviation is under 10, so +-50 is beyond any fluke.
	if counts["a"] < 850 || counts["a"] > 950 || counts["a"]+counts["b"] != n {
		t.Fatalf("split a=%d b=%d, want about 900/100", counts["a"], counts["b"])
	}
}
