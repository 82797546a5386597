package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/cluster"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/testpki"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

const (
	trustDomain = "spiffe://weft.test/"
	callerID    = "spiffe://weft.test/ns/default/sa/caller"
	calleeID    = "spiffe://weft.test/ns/default/sa/callee"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WEFT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newRuntime returns a Runtime closed at the end of the test.
func newRuntime(t testing.TB, certs CertSource, reg *stats.Registry) *Runtime {
	t.Helper()
	r, err := New(Config{Certs: certs, Logger: testLogger(t), Stats: reg, ListenerDrainTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func mustApply(t testing.TB, r *Runtime, c *config.Config) {
	t.Helper()
	if err := r.Apply(c); err != nil {
		t.Fatalf("Apply(%s): %v", c.Version, err)
	}
}

func listenerAddr(t testing.TB, r *Runtime, name string) string {
	t.Helper()
	a, ok := r.ListenerAddr(name)
	if !ok {
		t.Fatalf("listener %q not bound", name)
	}
	return a.String()
}

// appPort describes one service port a callee's inbound listener serves.
type appPort struct {
	port   int
	proto  config.Protocol
	target string // the app's host:port
	tcp    bool
}

func sni(port int) string { return fmt.Sprintf("p%d.inbound.weft", port) }

func inboundClusterName(port int) string { return fmt.Sprintf("inbound|%d", port) }

// inboundConfig is a callee's config: an "inbound" mutual-TLS listener with one chain per app
// port, as translate emits it.
func inboundConfig(version string, trust []byte, ports ...appPort) *config.Config {
	c := &config.Config{
		Version:     version,
		Listeners:   map[string]*config.Listener{},
		Clusters:    map[string]*config.Cluster{},
		Routes:      map[string]*config.RouteTable{},
		TrustBundle: trust,
	}
	l := &config.Listener{Name: "inbound", Address: "127.0.0.1:0"}
	for _, p := range ports {
		cn := inboundClusterName(p.port)
		fc := &config.FilterChain{
			Name:        fmt.Sprintf("port-%d", p.port),
			ServerNames: []string{sni(p.port)},
			TLS: &config.DownstreamTLS{
				RequireClientCert:  true,
				ALPN:               []string{"h2", "http/1.1", "weft-tcp"},
				AllowedSANPrefixes: []string{trustDomain},
			},
		}
		if p.tcp {
			fc.TCP = &config.TCPProxy{StatPrefix: cn, Cluster: cn}
		} else {
			fc.HTTP = &config.HTTPConnectionManager{StatPrefix: cn, Inline: routeTo(cn, cn)}
		}
		l.FilterChains = append(l.FilterChains, fc)
		c.Clusters[cn] = &config.Cluster{
			Name: cn, Protocol: p.proto, ConnectTimeout: time.Second,
			Endpoints: []config.Endpoint{{Address: p.target}},
		}
	}
	c.Listeners[l.Name] = l
	return c
}

// routeTo is a route table with one catch-all route to a cluster.
func routeTo(name, clusterName string) *config.RouteTable {
	return &config.RouteTable{Name: name, VirtualHosts: []*config.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []*config.Route{{Name: "default", Match: config.RouteMatch{Prefix: "/"},
			Clusters: []config.WeightedCluster{{Name: clusterName, Weight: 1}}}},
	}}}
}

// meshCluster is a caller's cluster of a callee service port, over mutual TLS.
func meshCluster(name string, port int, proto config.Protocol, sans []string, endpoints ...string) *config.Cluster {
	alpn := map[config.Protocol][]string{config.HTTP1: {"http/1.1"}, config.HTTP2: {"h2"}, config.TCP: {"weft-tcp"}}[proto]
	c := &config.Cluster{
		Name: name, Protocol: proto, ConnectTimeout: time.Second,
		TLS: &config.UpstreamTLS{SNI: sni(port), ALPN: alpn, AllowedSANs: sans},
	}
	if proto == config.TCP {
		c.Protocol = config.HTTP1 // the xDS cluster cannot say TCP; the tcp_proxy decides
	}
	for _, e := range endpoints {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: e})
	}
	return c
}

// outboundConfig is a caller's config: one plaintext HTTP listener "outbound" routing with the
// table "svc" to the given clusters.
func outboundConfig(version string, trust []byte, table *config.RouteTable, clusters ...*config.Cluster) *config.Config {
	c := &config.Config{
		Version: version,
		Listeners: map[string]*config.Listener{"outbound": {
			Name: "outbound", Address: "127.0.0.1:0",
			FilterChains: []*config.FilterChain{{Name: "http", HTTP: &config.HTTPConnectionManager{StatPrefix: "svc", RouteName: "svc"}}},
		}},
		Clusters:    map[string]*config.Cluster{},
		Routes:      map[string]*config.RouteTable{"svc": table},
		TrustBundle: trust,
	}
	for _, cl := range clusters {
		c.Clusters[cl.Name] = cl
	}
	return c
}

// pair is a caller proxy and a callee proxy with their certificates from one CA.
type pair struct {
	ca             *testpki.CA
	callerCerts    *testpki.Source
	calleeCerts    *testpki.Source
	caller, callee *Runtime
	callerReg      *stats.Registry
	calleeReg      *stats.Registry
}

func newPair(t testing.TB) *pair {
	t.Helper()
	ca := testpki.NewCA(t, "weft test CA")
	p := &pair{
		ca:          ca,
		callerCerts: testpki.NewSource(ca.Leaf(t, callerID)),
		calleeCerts: testpki.NewSource(ca.Leaf(t, calleeID)),
		callerReg:   stats.NewRegistry(),
		calleeReg:   stats.NewRegistry(),
	}
	p.caller = newRuntime(t, p.callerCerts, p.callerReg)
	p.callee = newRuntime(t, p.calleeCerts, p.calleeReg)
	return p
}

// httpApp is a backend that answers "<name> <method> <path>" with the header X-App: name. The
// path /slow waits until release is closed (or the request is cancelled).
type httpApp struct {
	name    string
	srv     *httptest.Server
	release chan struct{}
	started chan struct{} // receives once per /slow request that arrived
}

func newHTTPApp(t testing.TB, name string) *httpApp { return startHTTPApp(t, name, false) }

// newH2CApp is an httpApp that also speaks HTTP/2 with prior knowledge.
func newH2CApp(t testing.TB, name string) *httpApp { return startHTTPApp(t, name, true) }

func startHTTPApp(t testing.TB, name string, h2c bool) *httpApp {
	t.Helper()
	a := &httpApp{name: name, release: make(chan struct{}), started: make(chan struct{}, 16)}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			a.started <- struct{}{}
			select {
			case <-a.release:
			case <-r.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-App", name)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %s %s", name, r.Method, r.URL.Path, body)
	}))
	if h2c {
		a.srv.Config.Protocols = new(http.Protocols)
		a.srv.Config.Protocols.SetHTTP1(true)
		a.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	a.srv.Start()
	t.Cleanup(func() {
		a.unblock()
		a.srv.Close()
	})
	return a
}

var unblockMu sync.Mutex

func (a *httpApp) unblock() {
	unblockMu.Lock()
	defer unblockMu.Unlock()
	select {
	case <-a.release:
	default:
		close(a.release)
	}
}

func (a *httpApp) addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// httpClient is a keep-alive HTTP/1.1 client closed at the end of the test.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2cClient speaks HTTP/2 with prior knowledge.
func h2cClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type result struct {
	status int
	body   string
	header http.Header
}

func get(t testing.TB, c *http.Client, url string, hdr map[string]string) (result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue returns the sum of the series of metric name in reg whose labels include labels
// (0 if none).
func metricValue(t testing.TB, reg *stats.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	snap, err := reg.Snapshot()
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	var sum float64
next:
	for series, v := range snap {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		for k, want := range labels {
			pair := k + `="` + want + `"`
			if !strings.Contains(series, "{"+pair) && !strings.Contains(series, ","+pair) {
				continue next
			}
		}
		sum += v
	}
	return sum
}

// endpointStats returns the pool statistics of the first endpoint of a cluster in force.
func endpointStats(t testing.TB, r *Runtime, clusterName string) cluster.Stats {
	t.Helper()
	cl, ok := r.state.Load().clusters.Cluster(clusterName)
	if !ok || len(cl.Endpoints()) == 0 {
		t.Fatalf("cluster %q has no endpoint", clusterName)
	}
	return cl.Endpoints()[0].Stats()
}
