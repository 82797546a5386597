package xdsclient

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

const nodeID = "app-1.default"

// want is the config the client must build from m.
func (m meshSnapshot) want(t *testing.T) *config.Config {
	dbTLS := &config.UpstreamTLS{SNI: "p5432.inbound.weft", ALPN: []string{"weft-tcp"}, AllowedSANs: []string{"spiffe://weft.local/ns/default/sa/db"}}
	cfg := &config.Config{
		Listeners: map[string]*config.Listener{
			"inbound":                  wantInboundListener("127.0.0.1:15006"),
			"outbound|db.default:5432": wantTCPListener(m.db()),
		},
		Clusters: map[string]*config.Cluster{
			"inbound|8080": {Name: "inbound|8080", Protocol: config.HTTP2, ConnectTimeout: time.Second, Endpoints: []config.Endpoint{{Address: "127.0.0.1:9001"}}},
			"inbound|9000": {Name: "inbound|9000", Protocol: config.TCP, ConnectTimeout: time.Second, Endpoints: []config.Endpoint{{Address: "127.0.0.1:9002"}}},
			"outbound|5432||db.default": {Name: "outbound|5432||db.default", Protocol: config.TCP, ConnectTimeout: 2 * time.Second, TLS: dbTLS,
				Endpoints: wantEndpoints("10.0.2.1")},
		},
		Routes:      map[string]*config.RouteTable{},
		TrustBundle: testCA(t),
	}
	if m.withoutDBEndpoints {
		cfg.Clusters["outbound|5432||db.default"].Endpoints = nil
	}
	if !m.withoutWeb {
		cfg.Listeners["outbound|web.default:80"] = wantHTTPListener(webUpstream)
		cfg.Routes["web.default:80"] = wantServiceRoutes(webUpstream)
		cfg.Clusters["outbound|80||web.default"] = &config.Cluster{
			Name: "outbound|80||web.default", Protocol: config.HTTP1, ConnectTimeout: 2 * time.Second,
			TLS:       &config.UpstreamTLS{SNI: "p80.inbound.weft", ALPN: []string{"http/1.1"}, AllowedSANs: []string{"spiffe://weft.local/ns/default/sa/web"}},
			Endpoints: wantEndpoints(m.webEndpoints...),
		}
	}
	return cfg
}

func checkConfig(t *testing.T, want, got *config.Config) {
	t.Helper()
	if got.Version == "" {
		t.Errorf("config without a version")
	}
	opts := cmp.Options{cmpRegexp, cmpopts.IgnoreFields(config.Config{}, "Version"), cmpopts.EquateEmpty()}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// runningClient is a Client running against a test server; its applied configs arrive on
// applied.
type runningClient struct {
	*Client
	applied chan *config.Config
	cancel  context.CancelFunc
	done    chan error
}

// startClient runs a client; refuse, if set, is consulted before a config is accepted. The
// client is stopped at the end of the test.
func startClient(t *testing.T, addr string, mod func(*Config), refuse func(*config.Config) error) *runningClient {
	t.Helper()
	cfg := Config{
		Address:    addr,
		NodeID:     nodeID,
		Meta:       wire.ProxyMeta{Mode: wire.ModeSidecar, WorkloadID: nodeID, Service: "app", Namespace: "default", Version: "test"},
		BackoffMin: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningClient{Client: c, applied: make(chan *config.Config, 64), cancel: cancel, done: make(chan error, 1)}
	apply := func(cfg *config.Config) error {
		if len(cfg.Listeners) == 0 {
			t.Error(errEmptyConfig)
			return errEmptyConfig
		}
		if refuse != nil {
			if err := refuse(cfg); err != nil {
				return err
			}
		}
		rc.applied <- cfg
		return nil
	}
	go func() { rc.done <- c.Run(ctx, apply) }()
	t.Cleanup(func() { rc.stop(t) })
	return rc
}

// stop cancels the client and waits for Run to return.
func (rc *runningClient) stop(t *testing.T) {
	t.Helper()
	rc.cancel()
	select {
	case err, ok := <-rc.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if ok {
			close(rc.done)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return after cancellation")
	}
}

func (rc *runningClient) next(t *testing.T) *config.Config {
	t.Helper()
	select {
	case cfg := <-rc.applied:
		return cfg
	case <-time.After(10 * time.Second):
		t.Fatalf("no config applied; status %+v", rc.Status())
		return nil
	}
}

// until consumes applied configs until one is want (xDS updates of different types arrive
// one by one, so intermediate configs may be applied on the way) and returns it.
func (rc *runningClient) until(t *testing.T, want *config.Config) *config.Config {
	t.Helper()
	opts := cmp.Options{cmpRegexp, cmpopts.IgnoreFields(config.Config{}, "Version"), cmpopts.EquateEmpty()}
	timeout := time.After(10 * time.Second)
	lastDiff := "none applied"
	for {
		select {
		case cfg := <-rc.applied:
			if lastDiff = cmp.Diff(want, cfg, opts); lastDiff == "" {
				if cfg.Version == "" {
					t.Errorf("config without a version")
				}
				return cfg
			}
		case <-timeout:
			t.Fatalf("the expected config was not applied; last (-want +got):\n%s", lastDiff)
			return nil
		}
	}
}

func (rc *runningClient) noneApplied(t *testing.T) {
	t.Helper()
	select {
	case cfg := <-rc.applied:
		t.Fatalf("config %s applied, want none", cfg.Version)
	default:
	}
}

func TestClientFollowsTheServer(t *testing.T) {
	srv := newTestServer(t)
	m := meshSnapshot{webEndpoints: []string{"10.0.1.1"}}
	srv.set(t, nodeID, m.build(t, "1"))
	rc := startClient(t, srv.addr, nil, nil)

	first := rc.next(t)
	checkConfig(t, m.want(t), first)
	if st := rc.Status(); st.Version != first.Version || !st.Connected || st.LastNACK != "" {
		t.Errorf("status %+v, want connected, version %s, no NACK", st, first.Version)
	}

	// The subscriptions: wildcard listeners and clusters; the routes, load assignments and
	// ROOTCA they use; never the proxy's own certificate.
	subscribed := map[string][]string{}
	for i, r := range srv.received() {
		if i == 0 {
			if r.req.GetNode().GetId() != nodeID || r.req.GetNode().GetMetadata().GetFields()["mode"].GetStringValue() != wire.ModeSidecar {
				t.Errorf("first request's node = %v", r.req.GetNode())
			}
		}
		subscribed[r.req.GetTypeUrl()] = append(subscribed[r.req.GetTypeUrl()], r.req.GetResourceNamesSubscribe()...)
	}
	for typeURL := range subscribed {
		slices.Sort(subscribed[typeURL])
	}
	wantSubscribed := map[string][]string{
		TypeListener: {"*"},
		TypeCluster:  {"*"},
		TypeRoute:    {"web.default:80"},
		TypeEndpoint: {"outbound|5432||db.default", "outbound|80||web.default"},
		TypeSecret:   {"ROOTCA"},
	}
	if diff := cmp.Diff(wantSubscribed, subscribed); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}

	// A new endpoint.
	m.webEndpoints = []string{"10.0.1.1", "10.0.1.2"}
	srv.set(t, nodeID, m.build(t, "2"))
	second := rc.next(t)
	checkConfig(t, m.want(t), second)
	if second.Version == first.Version {
		t.Errorf("new config has the version of the previous one")
	}

	// An unsupported filter: NACKed, the config stays.
	bad := m
	bad.redisOnWeb = true
	srv.set(t, nodeID, bad.build(t, "3"))
	const wantNACK = `listener "outbound|web.default:80": filter_chains[0].filters[0]: unsupported filter "envoy.filters.network.redis_proxy"`
	waitFor(t, "the NACK", func() bool { return len(srv.nacks()) > 0 })
	if diff := cmp.Diff([]string{wantNACK}, srv.nacks()); diff != "" {
		t.Errorf("NACKs (-want +got):\n%s", diff)
	}
	rc.noneApplied(t)
	if st := rc.Status(); st.LastNACK != wantNACK || st.Version != second.Version {
		t.Errorf("status %+v, want the NACK and version %s", st, second.Version)
	}

	// Fixed, with a third endpoint.
	m.webEndpoints = []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"}
	srv.set(t, nodeID, m.build(t, "4"))
	rc.until(t, m.want(t))

	// web goes away: its route and load assignment are unsubscribed.
	before := len(srv.received())
	m.withoutWeb = true
	srv.set(t, nodeID, m.build(t, "5"))
	rc.until(t, m.want(t))
	waitFor(t, "the unsubscriptions", func() bool {
		unsubscribed := map[string][]string{}
		for _, r := range srv.received()[before:] {
			unsubscribed[r.req.GetTypeUrl()] = append(unsubscribed[r.req.GetTypeUrl()], r.req.GetResourceNamesUnsubscribe()...)
		}
		return cmp.Equal(unsubscribed[TypeRoute], []string{"web.default:80"}) &&
			cmp.Equal(unsubscribed[TypeEndpoint], []string{"outbound|80||web.default"})
	})
	if n := len(srv.nacks()); n != 1 {
		t.Errorf("%d NACKs, want the one", n)
	}
}

func TestClientNACKsWhenApplyFails(t *testing.T) {
	srv := newTestServer(t)
	m := meshSnapshot{webEndpoints: []string{"10.0.1.1"}}
	srv.set(t, nodeID, m.build(t, "1"))
	refusal := errors.New("listener 127.0.0.1:18080: address already in use")
	rc := startClient(t, srv.addr, nil, func(cfg *config.Config) error {
		if len(cfg.Clusters["outbound|80||web.default"].Endpoints) == 2 {
			return refusal
		}
		return nil
	})
	first := rc.next(t)
	checkConfig(t, m.want(t), first)

	m.webEndpoints = []string{"10.0.1.1", "10.0.1.2"}
	srv.set(t, nodeID, m.build(t, "2"))
	waitFor(t, "the NACK", func() bool { return len(srv.nacks()) > 0 })
	nack := srv.nacks()[0]
	if !strings.HasPrefix(nack, "config ") || !strings.HasSuffix(nack, " refused by the proxy: "+refusal.Error()) {
		t.Errorf("NACK %q, want the apply error", nack)
	}
	for _, r := range srv.received() {
		if r.req.GetErrorDetail() != nil && r.req.GetTypeUrl() != TypeEndpoint {
			t.Errorf("NACK of %s, want of the load assignments", r.req.GetTypeUrl())
		}
	}
	rc.noneApplied(t)
	if st := rc.Status(); st.Version != first.Version {
		t.Errorf("status version %s, want the config in force %s", st.Version, first.Version)
	}

	// The refused load assignment does not come back with the next change of another type:
	// the one in force stays.
	m.dbLocalPort = 25432
	srv.set(t, nodeID, m.build(t, "3"))
	inForce := m
	inForce.webEndpoints = []string{"10.0.1.1"}
	checkConfig(t, inForce.want(t), rc.next(t))

	m.webEndpoints = []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"}
	srv.set(t, nodeID, m.build(t, "4"))
	checkConfig(t, m.want(t), rc.next(t))
	if n := len(srv.nacks()); n != 1 {
		t.Errorf("%d NACKs, want 1", n)
	}
}

func TestClientReconnectsAndKeepsConfig(t *testing.T) {
	srv := newTestServer(t)
	m := meshSnapshot{webEndpoints: []string{"10.0.1.1"}}
	srv.set(t, nodeID, m.build(t, "1"))
	rc := startClient(t, srv.addr, nil, nil)
	first := rc.next(t)
	checkConfig(t, m.want(t), first)

	srv.stop()
	waitFor(t, "the client to notice", func() bool { return !rc.Status().Connected })
	attempts := rc.Status().ConnectAttempts
	waitFor(t, "reconnection attempts", func() bool { return rc.Status().ConnectAttempts >= attempts+3 })
	if st := rc.Status(); st.Version != first.Version || st.LastError == "" {
		t.Errorf("status while disconnected %+v, want version %s and the error", st, first.Version)
	}
	lastStream := srv.received()[len(srv.received())-1].stream
	srv.restart(t)
	waitFor(t, "reconnection", func() bool { return rc.Status().Connected })

	// The new stream tells the server what the client holds.
	held := map[string][]string{}
	for _, r := range srv.received() {
		if r.stream == lastStream {
			continue
		}
		for name := range r.req.GetInitialResourceVersions() {
			held[r.req.GetTypeUrl()] = append(held[r.req.GetTypeUrl()], name)
		}
	}
	for typeURL := range held {
		slices.Sort(held[typeURL])
	}
	wantHeld := map[string][]string{
		TypeListener: {"inbound", "outbound|db.default:5432", "outbound|web.default:80"},
		TypeCluster:  {"inbound|8080", "inbound|9000", "outbound|5432||db.default", "outbound|80||web.default"},
		TypeRoute:    {"web.default:80"},
		TypeEndpoint: {"outbound|5432||db.default", "outbound|80||web.default"},
		TypeSecret:   {"ROOTCA"},
	}
	if diff := cmp.Diff(wantHeld, held); diff != "" {
		t.Errorf("initial_resource_versions (-want +got):\n%s", diff)
	}
	rc.noneApplied(t)

	// The new stream works.
	m.webEndpoints = []string{"10.0.1.1", "10.0.1.2"}
	srv.set(t, nodeID, m.build(t, "2"))
	checkConfig(t, m.want(t), rc.next(t))
}

func TestClientWaitsBrieflyForMissingEndpoints(t *testing.T) {
	srv := newTestServer(t)
	m := meshSnapshot{webEndpoints: []string{"10.0.1.1"}, withoutDBEndpoints: true}
	srv.set(t, nodeID, m.build(t, "1"))
	const timeout = 200 * time.Millisecond
	start := time.Now()
	rc := startClient(t, srv.addr, func(c *Config) { c.InitialFetchTimeout = timeout }, nil)
	checkConfig(t, m.want(t), rc.next(t))
	if waited := time.Since(start); waited < timeout {
		t.Errorf("applied after %s, before the initial fetch timeout %s", waited, timeout)
	}
	if st := rc.Status(); len(st.Waiting) != 0 {
		t.Errorf("still waiting for %v", st.Waiting)
	}

	// When the assignment arrives, it is applied.
	m.withoutDBEndpoints = false
	srv.set(t, nodeID, m.build(t, "2"))
	checkConfig(t, m.want(t), rc.next(t))
}

// clientGoroutines lists the goroutines of this package's client and of gRPC client
// connections.
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "xdsclient.(*Client)") || strings.Contains(g, "(*http2Client)") ||
			strings.Contains(g, "grpc.(*addrConn)") || strings.Contains(g, "grpc.(*ClientConn)") {
			out = append(out, g)
		}
	}
	return out
}

func TestClientStopsCleanly(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, nodeID, meshSnapshot{webEndpoints: []string{"10.0.1.1"}}.build(t, "1"))

	// Connected.
	rc := startClient(t, srv.addr, nil, nil)
	rc.next(t)
	rc.stop(t)

	// Retrying against a port nobody listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	down := startClient(t, closed, nil, nil)
	waitFor(t, "retries", func() bool { return down.Status().ConnectAttempts >= 3 })
	down.stop(t)

	var left []string
	waitFor(t, "client goroutines to end", func() bool {
		left = clientGoroutines()
		return len(left) == 0
	})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{NodeID: "n"}, "xds client: address is required"},
		{"no node", Config{Address: "127.0.0.1:1"}, "xds client: node ID is required"},
		{"backoff inverted", Config{Address: "127.0.0.1:1", NodeID: "n", BackoffMin: time.Second, BackoffMax: time.Millisecond},
			"xds client: backoff max 1ms is below backoff min 1s"},
		{"negative fetch timeout", Config{Address: "127.0.0.1:1", NodeID: "n", InitialFetchTimeout: -1},
			"xds client: negative initial fetch timeout -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("New: %v, want %s", err, tt.want)
			}
		})
	}
}

func TestRunRefusesMisuse(t *testing.T) {
	c, err := New(Config{Address: "127.0.0.1:1", NodeID: "n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(t.Context(), nil); err == nil {
		t.Errorf("Run without apply succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(*config.Config) error { return nil }) }()
	waitFor(t, "the first run to start", func() bool { return c.running.Load() })
	if err := c.Run(ctx, func(*config.Config) error { return nil }); err == nil || err.Error() != "xds client: already running" {
		t.Errorf("second Run: %v, want already running", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
