package xdsclient

import (
	"fmt"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

var dbUpstream = wire.Upstream{Service: "db", Namespace: "default", Port: 5432, LocalPort: 15432}

// resourceName is the xDS name of a resource: its name, or a load assignment's cluster name.
func resourceName(m proto.Message) string {
	switch m := m.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return m.GetClusterName()
	case interface{ GetName() string }:
		return m.GetName()
	}
	panic(fmt.Sprintf("no name for %T", m))
}

func resources(t *testing.T, version string, ms ...proto.Message) []*discoveryv3.Resource {
	t.Helper()
	var out []*discoveryv3.Resource
	for _, m := range ms {
		out = append(out, &discoveryv3.Resource{Name: resourceName(m), Version: version, Resource: mustAny(t, m)})
	}
	return out
}

func ingestOK(t *testing.T, s *state, typeURL string, res []*discoveryv3.Resource, removed ...string) {
	t.Helper()
	if refusals := s.types[typeURL].ingest(res, removed); len(refusals) > 0 {
		t.Fatalf("ingest %s: %v", typeURL, refusals)
	}
}

// sidecarState holds the listeners and clusters of a sidecar calling web (HTTP, EDS) and db
// (TCP, EDS), and the subscriptions they imply; routes, endpoints and ROOTCA are not there yet.
func sidecarState(t *testing.T, now time.Time) *state {
	s := newState()
	ingestOK(t, s, TypeCluster, resources(t, "1",
		staticCluster(t, "inbound|8080", "127.0.0.1", 9001, false),
		staticCluster(t, "inbound|9000", "127.0.0.1", 9002, false),
		edsCluster(t, "web", 80, "http/1.1"),
		edsCluster(t, "db", 5432, "weft-tcp"),
	))
	ingestOK(t, s, TypeListener, resources(t, "1",
		inboundListener(t, "10.0.0.1", 15006),
		outboundHTTPListener(t, webUpstream),
		outboundTCPListener(t, dbUpstream),
	))
	s.reconcile(now, time.Second)
	return s
}

func TestBuildWaitsForReferencedResources(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newState()
	if cfg, missing := s.build(); cfg != nil || len(missing) != 2 {
		t.Fatalf("build of an empty state = %v, %v; want no config, 2 missing", cfg, missing)
	}
	s = sidecarState(t, now)
	_, missing := s.build()
	want := []string{
		`cluster load assignment "outbound|5432||db.default"`,
		`cluster load assignment "outbound|80||web.default"`,
		`route configuration "web.default:80"`,
		`secret "ROOTCA"`,
	}
	if diff := cmp.Diff(want, missing); diff != "" {
		t.Fatalf("missing (-want +got):\n%s", diff)
	}
	// Every missing resource is subscribed and pending.
	for typeURL, names := range map[string][]string{
		TypeEndpoint: {"outbound|5432||db.default", "outbound|80||web.default"},
		TypeRoute:    {"web.default:80"},
		TypeSecret:   {"ROOTCA"},
	} {
		for _, n := range names {
			if _, ok := s.types[typeURL].subscribed[n]; !ok {
				t.Errorf("%s %q not subscribed", typeURL, n)
			}
			if _, ok := s.types[typeURL].pending[n]; !ok {
				t.Errorf("%s %q not pending", typeURL, n)
			}
		}
	}

	ingestOK(t, s, TypeRoute, resources(t, "1", serviceRoutes(webUpstream)))
	ingestOK(t, s, TypeEndpoint, resources(t, "1", loadAssignment("outbound|80||web.default", "10.0.1.1")))
	// The server says db has no assignment; ROOTCA is still missing.
	ingestOK(t, s, TypeEndpoint, nil, "outbound|5432||db.default")
	if _, missing := s.build(); !cmp.Equal(missing, []string{`secret "ROOTCA"`}) {
		t.Fatalf("missing = %v, want only ROOTCA", missing)
	}
	ingestOK(t, s, TypeSecret, resources(t, "1", rootCASecret(testCA(t))))
	cfg, missing := s.build()
	if len(missing) > 0 {
		t.Fatalf("missing = %v, want none", missing)
	}
	if got := cfg.Clusters["outbound|80||web.default"].Endpoints; !cmp.Equal(got, []config.Endpoint{{Address: "10.0.1.1:15006"}}) {
		t.Errorf("web endpoints = %v", got)
	}
	if got := cfg.Clusters["outbound|5432||db.default"].Endpoints; len(got) != 0 {
		t.Errorf("db endpoints = %v, want none (absent)", got)
	}
	if cfg.Routes["web.default:80"] == nil || len(cfg.Routes) != 1 {
		t.Errorf("routes = %v, want web.default:80 only", cfg.Routes)
	}
	if string(cfg.TrustBundle) != string(testCA(t)) {
		t.Errorf("trust bundle not set")
	}
	// Protocols: clusters only TCP proxies reach speak TCP.
	for name, want := range map[string]config.Protocol{
		"inbound|8080":              config.HTTP1,
		"inbound|9000":              config.TCP,
		"outbound|80||web.default":  config.HTTP1,
		"outbound|5432||db.default": config.TCP,
	} {
		if got := cfg.Clusters[name].Protocol; got != want {
			t.Errorf("cluster %s protocol %s, want %s", name, got, want)
		}
	}
	// The decoded cluster is not modified by the build.
	if got := s.types[TypeCluster].resources["inbound|9000"].value.(*clusterResource).cluster.Protocol; got != config.HTTP1 {
		t.Errorf("held cluster protocol changed to %s", got)
	}
}

func TestBuildVersion(t *testing.T) {
	now := time.Unix(1000, 0)
	complete := func() *state {
		s := sidecarState(t, now)
		ingestOK(t, s, TypeRoute, resources(t, "1", serviceRoutes(webUpstream)))
		ingestOK(t, s, TypeEndpoint, resources(t, "1",
			loadAssignment("outbound|80||web.default", "10.0.1.1"),
			loadAssignment("outbound|5432||db.default", "10.0.2.1")))
		ingestOK(t, s, TypeSecret, resources(t, "1", rootCASecret(testCA(t))))
		return s
	}
	version := func(s *state) string {
		t.Helper()
		cfg, missing := s.build()
		if cfg == nil {
			t.Fatalf("incomplete: %v", missing)
		}
		return cfg.Version
	}
	base := version(complete())
	if again := version(complete()); again != base {
		t.Errorf("same resources, versions %s and %s", base, again)
	}
	s := complete()
	ingestOK(t, s, TypeEndpoint, resources(t, "2", loadAssignment("outbound|80||web.default", "10.0.1.1", "10.0.1.2")))
	if v := version(s); v == base {
		t.Errorf("new endpoint version, config version unchanged")
	}
	s = complete()
	ingestOK(t, s, TypeEndpoint, nil, "outbound|5432||db.default")
	if v := version(s); v == base {
		t.Errorf("load assignment removed, config version unchanged")
	}
}

func TestReconcileUnsubscribesAndForgets(t *testing.T) {
	now := time.Unix(1000, 0)
	s := sidecarState(t, now)
	ingestOK(t, s, TypeRoute, resources(t, "1", serviceRoutes(webUpstream)))
	ingestOK(t, s, TypeEndpoint, resources(t, "1", loadAssignment("outbound|80||web.default", "10.0.1.1")))

	// web's listener and cluster go away.
	ingestOK(t, s, TypeListener, nil, wire.OutboundListenerName(webUpstream))
	ingestOK(t, s, TypeCluster, nil, "outbound|80||web.default")
	changes := s.reconcile(now, time.Second)
	want := []subscriptionChange{
		{typeURL: TypeEndpoint, unsubscribe: []string{"outbound|80||web.default"}},
		{typeURL: TypeRoute, unsubscribe: []string{"web.default:80"}},
	}
	if diff := cmp.Diff(want, changes, cmp.AllowUnexported(subscriptionChange{})); diff != "" {
		t.Fatalf("changes (-want +got):\n%s", diff)
	}
	if len(s.types[TypeRoute].resources) != 0 || len(s.types[TypeRoute].pending) != 0 {
		t.Errorf("route state not forgotten: %+v", s.types[TypeRoute])
	}
	if _, ok := s.types[TypeEndpoint].resources["outbound|80||web.default"]; ok {
		t.Errorf("web's load assignment not forgotten")
	}
	if changes := s.reconcile(now, time.Second); len(changes) != 0 {
		t.Errorf("second reconcile changed %v", changes)
	}
	// A resource sent for a name no longer subscribed is ignored.
	ingestOK(t, s, TypeRoute, resources(t, "2", serviceRoutes(webUpstream)))
	if len(s.types[TypeRoute].resources) != 0 {
		t.Errorf("unsubscribed route accepted")
	}
}

func TestFetchTimeoutTreatsAsAbsent(t *testing.T) {
	now := time.Unix(1000, 0)
	s := sidecarState(t, now)
	ingestOK(t, s, TypeRoute, resources(t, "1", serviceRoutes(webUpstream)))
	ingestOK(t, s, TypeSecret, resources(t, "1", rootCASecret(testCA(t))))
	ingestOK(t, s, TypeEndpoint, resources(t, "1", loadAssignment("outbound|80||web.default", "10.0.1.1")))

	d, ok := s.nextDeadline()
	if !ok || !d.Equal(now.Add(time.Second)) {
		t.Fatalf("next deadline = %v, %v; want %v", d, ok, now.Add(time.Second))
	}
	if got := s.expire(now.Add(time.Second - 1)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := s.expire(now.Add(time.Second)); !cmp.Equal(got, []string{`cluster load assignment outbound|5432||db.default`}) {
		t.Fatalf("expired = %v", got)
	}
	if _, ok := s.nextDeadline(); ok {
		t.Errorf("a deadline is left after expiry")
	}
	cfg, missing := s.build()
	if cfg == nil {
		t.Fatalf("incomplete after expiry: %v", missing)
	}
	if eps := cfg.Clusters["outbound|5432||db.default"].Endpoints; len(eps) != 0 {
		t.Errorf("db endpoints = %v, want none", eps)
	}
	// It arrives late: it is taken.
	ingestOK(t, s, TypeEndpoint, resources(t, "1", loadAssignment("outbound|5432||db.default", "10.0.2.1")))
	cfg, _ = s.build()
	if eps := cfg.Clusters["outbound|5432||db.default"].Endpoints; len(eps) != 1 {
		t.Errorf("db endpoints = %v, want the late one", eps)
	}
}

func TestIngestKeepsPreviousVersionOfRefusedResource(t *testing.T) {
	s := newState()
	good := outboundHTTPListener(t, webUpstream)
	ingestOK(t, s, TypeListener, resources(t, "1", good))
	bad := outboundHTTPListener(t, webUpstream)
	bad.FilterChains[0].Filters = nil
	other := outboundTCPListener(t, dbUpstream)
	refusals := s.types[TypeListener].ingest(resources(t, "2", bad, other), nil)
	want := []string{`listener "outbound|web.default:80": filter_chains[0].filters: one network filter is required (envoy.filters.network.http_connection_manager or envoy.filters.network.tcp_proxy)`}
	if diff := cmp.Diff(want, refusals); diff != "" {
		t.Fatalf("refusals (-want +got):\n%s", diff)
	}
	held := s.types[TypeListener].resources
	if held[good.Name].version != "1" {
		t.Errorf("refused listener: held version %q, want the previous one", held[good.Name].version)
	}
	if held[other.Name].version != "2" {
		t.Errorf("valid listener of the same response not accepted")
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for failures, ceiling := range map[int]time.Duration{1: lo, 2: 2 * lo, 4: 8 * lo, 5: hi, 100: hi} {
		var maxSeen time.Duration
		for range 200 {
			d := backoff(lo, hi, failures)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, outside [0, %s]", failures, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceiling/2 {
			t.Errorf("backoff(%d): largest of 200 draws %s, want some near %s (jitter over the full range)", failures, maxSeen, ceiling)
		}
	}
}

func TestCarryReferencedClusters(t *testing.T) {
	route := func(clusters ...string) *config.RouteTable {
		r := &config.Route{Name: "r"}
		for _, c := range clusters {
			r.Clusters = append(r.Clusters, config.WeightedCluster{Name: c, Weight: 1})
		}
		return &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*config.Route{r}}}}
	}
	listener := &config.Listener{Name: "l", FilterChains: []*config.FilterChain{{HTTP: &config.HTTPConnectionManager{RouteName: "rt"}}}}
	v1 := &config.Cluster{Name: "v1", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}}}
	v2 := &config.Cluster{Name: "v2", Endpoints: []config.Endpoint{{Address: "127.0.0.1:2"}}}
	prev := &config.Config{
		Version:   "prev",
		Listeners: map[string]*config.Listener{"l": listener},
		Routes:    map[string]*config.RouteTable{"rt": route("v1", "v2")},
		Clusters:  map[string]*config.Cluster{"v1": v1, "v2": v2},
	}

	// v1's removal arrived before the route that stops using it: v1 stays, with its endpoints.
	early := &config.Config{
		Version:   "early",
		Listeners: map[string]*config.Listener{"l": listener},
		Routes:    map[string]*config.RouteTable{"rt": route("v1", "v2")},
		Clusters:  map[string]*config.Cluster{"v2": v2},
	}
	carryReferencedClusters(early, prev)
	if early.Clusters["v1"] != v1 {
		t.Fatalf("the cluster the route still uses was dropped: %v", early.Clusters)
	}
	if early.Version == "early" {
		t.Fatal("carrying a cluster did not change the config's version")
	}

	// The new route arrives: v1 is no longer used and goes.
	late := &config.Config{
		Version:   "late",
		Listeners: map[string]*config.Listener{"l": listener},
		Routes:    map[string]*config.RouteTable{"rt": route("v2")},
		Clusters:  map[string]*config.Cluster{"v2": v2},
	}
	carryReferencedClusters(late, early)
	if _, ok := late.Clusters["v1"]; ok || late.Version != "late" {
		t.Fatalf("an unused cluster was carried: %v, version %s", late.Clusters, late.Version)
	}
}
