package translate

import (
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// firstMatch returns the first match of the first rule of a route.
func firstMatch(rt *gatewayv1.HTTPRoute) routeMatch {
	return matchesOf(&attachedRoute{route: rt})[0]
}

// oneMatchRoute is a route created age minutes after baseTime with a single match.
func oneMatchRoute(ns, name string, age int, m gatewayv1.HTTPRouteMatch) *gatewayv1.HTTPRoute {
	return httpRoute(ns, name, age, nil, rule([]gatewayv1.HTTPRouteMatch{m}))
}

func TestComparePrecedence(t *testing.T) {
	prefix := func(v string) *gatewayv1.HTTPPathMatch { return pathMatch(gatewayv1.PathMatchPathPrefix, v) }
	exact := func(v string) *gatewayv1.HTTPPathMatch { return pathMatch(gatewayv1.PathMatchExact, v) }
	regex := func(v string) *gatewayv1.HTTPPathMatch { return pathMatch(gatewayv1.PathMatchRegularExpression, v) }
	h := func(names ...string) []gatewayv1.HTTPHeaderMatch {
		var out []gatewayv1.HTTPHeaderMatch
		for _, n := range names {
			out = append(out, headerMatch(n, "x"))
		}
		return out
	}
	q := func(names ...string) []gatewayv1.HTTPQueryParamMatch {
		var out []gatewayv1.HTTPQueryParamMatch
		for _, n := range names {
			out = append(out, gatewayv1.HTTPQueryParamMatch{Name: gatewayv1.HTTPHeaderName(n), Value: "1"})
		}
		return out
	}
	m := func(ns, name string, age int, match gatewayv1.HTTPRouteMatch) routeMatch {
		return firstMatch(oneMatchRoute(ns, name, age, match))
	}
	tests := []struct {
		name          string
		first, second routeMatch
	}{
		{"exact beats a longer prefix",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: exact("/a")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a/very/long/prefix")})},
		{"exact beats regex",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: exact("/a")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: regex("/a.*")})},
		{"regex beats prefix",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: regex("/a.*")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/abcdefgh")})},
		{"longer prefix beats shorter prefix",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/api/v2")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/api"), Headers: h("a", "b")})},
		{"a trailing slash does not lengthen a prefix",
			m("a", "r1", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/api")}),
			m("a", "r2", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/api/")})},
		{"no path is prefix / and loses to any prefix",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Headers: h("a", "b", "c")})},
		{"method beats more headers",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Method: ptr(gatewayv1.HTTPMethodGet)}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("a", "b")})},
		{"more headers beat fewer",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("a", "b")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("a")})},
		{"duplicate header names count once",
			m("a", "r1", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("a")}),
			m("a", "r2", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("X", "x")})},
		{"headers beat query parameters",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), Headers: h("a")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), QueryParams: q("a", "b")})},
		{"more query parameters beat fewer",
			m("a", "r1", 5, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), QueryParams: q("a", "b")}),
			m("a", "r2", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a"), QueryParams: q("a")})},
		{"the oldest route wins a tie",
			m("z", "z", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a")}),
			m("a", "a", 1, gatewayv1.HTTPRouteMatch{Path: prefix("/a")})},
		{"then namespace/name in alphabetical order",
			m("a", "z", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a")}),
			m("b", "a", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a")})},
		{"then name within a namespace",
			m("a", "a", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a")}),
			m("a", "b", 0, gatewayv1.HTTPRouteMatch{Path: prefix("/a")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := compareMatches(&tt.first, &tt.second); c >= 0 {
				t.Errorf("compare(first, second) = %d, want < 0", c)
			}
			if c := compareMatches(&tt.second, &tt.first); c <= 0 {
				t.Errorf("compare(second, first) = %d, want > 0", c)
			}
		})
	}
}

func TestPrecedenceWithinRouteAndByHostname(t *testing.T) {
	rt := httpRoute("a", "r", 0, nil,
		rule([]gatewayv1.HTTPRouteMatch{{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/x")}}),
		rule([]gatewayv1.HTTPRouteMatch{
			{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/x")},
			{Path: pathMatch(gatewayv1.PathMatchExact, "/y")},
		}),
	)
	ms := matchesOf(&attachedRoute{route: rt})
	slices.Reverse(ms)
	sortMatches(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.path)
	}
	// The exact match first; then the equal prefixes in rule order.
	if want := []string{"/y", "/x", "/x"}; !slices.Equal(got, want) || ms[1].ruleIdx != 0 || ms[2].ruleIdx != 1 {
		t.Errorf("order = %v (rules %d, %d), want %v with rule 0 before rule 1", got, ms[1].ruleIdx, ms[2].ruleIdx, want)
	}

	// A route matching the virtual host by an exact hostname beats one matching by wildcard,
	// which beats a route for any hostname, whatever their paths.
	exactHost := firstMatch(oneMatchRoute("a", "exact", 9, gatewayv1.HTTPRouteMatch{}))
	exactHost.hostLen = len("a.example.com")
	wildHost := firstMatch(oneMatchRoute("a", "wild", 0, gatewayv1.HTTPRouteMatch{Path: pathMatch(gatewayv1.PathMatchExact, "/a")}))
	wildHost.hostLen, wildHost.hostWildcard = len("*.example.com"), true
	anyHost := firstMatch(oneMatchRoute("a", "any", 0, gatewayv1.HTTPRouteMatch{Path: pathMatch(gatewayv1.PathMatchExact, "/a")}))
	hosts := []routeMatch{anyHost, wildHost, exactHost}
	sortMatches(hosts)
	var names []string
	for _, m := range hosts {
		names = append(names, m.ar.route.Name)
	}
	if want := []string{"exact", "wild", "any"}; !slices.Equal(names, want) {
		t.Errorf("hostname order = %v, want %v", names, want)
	}
}

// TestOutputIndependentOfInputOrder shuffles the snapshot's lists: the resources must not
// change.
func TestOutputIndependentOfInputOrder(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Translate(tc.snap(), tc.proxy)
			if err != nil {
				t.Fatal(err)
			}
			s := tc.snap()
			slices.Reverse(s.HTTPRoutes)
			slices.Reverse(s.Workloads)
			slices.Reverse(s.Gateways)
			p := tc.proxy
			p.Meta.Upstreams = slices.Clone(p.Meta.Upstreams)
			slices.Reverse(p.Meta.Upstreams)
			p.Meta.Apps = slices.Clone(p.Meta.Apps)
			slices.Reverse(p.Meta.Apps)
			got, err := Translate(s, p)
			if err != nil {
				t.Fatal(err)
			}
			if !equalResources(want, got) {
				a, _ := renderResources(want)
				b, _ := renderResources(got)
				t.Errorf("output changed with input order:\n%s", lineDiff(a, b))
			}
		})
	}
}

func TestSelectWorkloads(t *testing.T) {
	s := newSnapshot()
	addService(s, "default", "byname", nil, port("http", 80, "http"))
	addService(s, "default", "bylabel", map[string]string{"app": "web", "version": "v2"}, port("http", 80, "http"))
	addService(s, "default", "bycustom", map[string]string{"tier": "front"}, port("http", 80, "http"), port("admin", 81, "http"))

	web1 := workload("web-1", "default", "web", "10.0.0.1")
	web1.Version = "v1"
	web2 := workload("web-2", "default", "web", "10.0.0.2")
	web2.Version = "v2"
	web2.Labels = map[string]string{"tier": "front"}
	webOther := workload("web-3", "other", "web", "10.0.0.3")
	webOther.Version = "v2"
	overridden := workload("web-4", "default", "web", "10.0.0.4")
	overridden.Version = "v2"
	overridden.Labels = map[string]string{"version": "v3", "tier": "front"} // explicit label wins
	portOnly := workload("web-5", "default", "web", "10.0.0.5")
	portOnly.Labels, portOnly.Ports = map[string]string{"tier": "front"}, []int32{81}
	named := workload("byname-1", "default", "byname", "10.0.0.6")
	namedElsewhere := workload("byname-2", "other", "byname", "10.0.0.7")
	namedProxyless := workload("byname-3", "default", "byname", "10.0.0.8")
	namedProxyless.Proxyless = true
	// Gateways are registered (for their certificates) but never serve a Service, even when
	// their name or labels match.
	gatewayByName := workload("byname-gw", "default", "byname", "10.0.0.9")
	gatewayByName.Gateway, gatewayByName.InboundPort = true, 0
	gatewayByLabel := workload("web-gw", "default", "web", "10.0.0.10")
	gatewayByLabel.Gateway, gatewayByLabel.InboundPort, gatewayByLabel.Version = true, 0, "v2"
	gatewayByLabel.Labels = map[string]string{"tier": "front"}
	addWorkloads(s, named, namedElsewhere, namedProxyless, web1, web2, webOther, overridden, portOnly, gatewayByName, gatewayByLabel)

	tests := []struct {
		service string
		port    int32
		want    []string
	}{
		{"byname", 80, []string{"byname-1", "byname-3"}},
		{"bylabel", 80, []string{"web-2"}},
		{"bycustom", 80, []string{"web-2", "web-4"}},
		{"bycustom", 81, []string{"web-2", "web-4", "web-5"}},
		{"missing", 80, nil},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			var got []string
			for _, w := range SelectWorkloads(s, mesh.NamespacedName{Namespace: "default", Name: tt.service}, tt.port) {
				got = append(got, w.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selected (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEffectiveLabelMatchesEffectiveLabels checks the map-free lookup selects uses against
// the labels the wire contract defines.
func TestEffectiveLabelMatchesEffectiveLabels(t *testing.T) {
	workloads := []wire.Workload{
		{Service: "web", Version: "v1"},
		{Service: "web", Version: "v1", Labels: map[string]string{"app": "other", "version": "", "tier": "front"}},
		{Labels: map[string]string{"tier": ""}},
		{},
	}
	for i := range workloads {
		w := &workloads[i]
		labels := w.EffectiveLabels()
		for _, key := range []string{"app", "version", "tier", "missing"} {
			want, wantOK := labels[key]
			if got, ok := effectiveLabel(w, key); got != want || ok != wantOK {
				t.Errorf("workload %d, label %q: got %q, %v; want %q, %v", i, key, got, ok, want, wantOK)
			}
		}
	}
}

func TestEndpointsSplitByProxyKind(t *testing.T) {
	s := newSnapshot()
	addService(s, "default", "greeter", nil, port("grpc", 50051, "grpc"))
	pl := workload("greeter-pl", "default", "greeter", "127.0.0.1")
	pl.Proxyless, pl.InboundPort = true, 50061
	addWorkloads(s, pl, workload("greeter-sc", "default", "greeter", "10.0.0.9"))
	up := wire.Upstream{Service: "greeter", Namespace: "default", Port: 50051, LocalPort: 15051}

	tests := []struct {
		name      string
		proxy     Proxy
		want      string
		wantTLS   bool
		wantCount int
	}{
		{"sidecar sees sidecar workloads", sidecarMeta("c", "default", "c", 0, nil, up), "10.0.0.9", true, 1},
		{"proxyless sees proxyless workloads", Proxy{ID: "p", Meta: wire.ProxyMeta{
			Mode: wire.ModeProxyless, Upstreams: []wire.Upstream{up},
		}}, "127.0.0.1", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Translate(s, tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Endpoints) != 1 {
				t.Fatalf("got %d assignments, want 1", len(res.Endpoints))
			}
			eps := res.Endpoints[0].GetEndpoints()[0].GetLbEndpoints()
			if len(eps) != tt.wantCount {
				t.Fatalf("got %d endpoints, want %d", len(eps), tt.wantCount)
			}
			if got := eps[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); got != tt.want {
				t.Errorf("endpoint address = %s, want %s", got, tt.want)
			}
			if got := res.Clusters[0].GetTransportSocket() != nil; got != tt.wantTLS {
				t.Errorf("cluster has TLS = %v, want %v", got, tt.wantTLS)
			}
			if got := len(res.Secrets) > 0; got != tt.wantTLS {
				t.Errorf("ROOTCA served = %v, want %v", got, tt.wantTLS)
			}
		})
	}
}

func TestConsumerRoutesReplaceProducerRoutes(t *testing.T) {
	s := newSnapshot()
	addService(s, "prod", "api", nil, port("http", 80, "http"))
	addService(s, "prod", "api-v2", nil, port("http", 80, "http"))
	addService(s, "prod", "api-v3", nil, port("http", 80, "http"))
	parent := serviceParent("api", 80)
	parent.Namespace = ptr(gatewayv1.Namespace("prod"))
	v3 := backend("api-v3", 0, -1)
	v3.Namespace = ptr(gatewayv1.Namespace("prod"))
	s.HTTPRoutes = []*gatewayv1.HTTPRoute{
		httpRoute("prod", "producer", 0, []gatewayv1.ParentReference{parent}, rule(nil, backend("api-v2", 0, -1))),
		httpRoute("team-a", "consumer", 0, []gatewayv1.ParentReference{parent}, rule(nil, v3)),
	}
	up := wire.Upstream{Service: "api", Namespace: "prod", Port: 80, LocalPort: 18080}
	tests := []struct {
		clientNS string
		want     []string
	}{
		{"team-a", []string{"team-a/consumer/rule/0/match/0", "default"}},
		{"team-b", []string{"prod/producer/rule/0/match/0", "default"}},
		{"prod", []string{"prod/producer/rule/0/match/0", "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.clientNS, func(t *testing.T) {
			res, err := Translate(s, sidecarMeta("c", tt.clientNS, "c", 0, nil, up))
			if err != nil {
				t.Fatal(err)
			}
			if got := routeNames(res.Routes[0]); !slices.Equal(got, tt.want) {
				t.Errorf("routes = %v, want %v", got, tt.want)
			}
		})
	}
}

func routeNames(rc *routev3.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			out = append(out, r.GetName())
		}
	}
	return out
}

func TestIntersectHostnames(t *testing.T) {
	tests := []struct {
		listener string
		route    []gatewayv1.Hostname
		want     []string
		ok       bool
	}{
		{"", nil, nil, true},
		{"a.example.com", nil, []string{"a.example.com"}, true},
		{"", []gatewayv1.Hostname{"b.com", "a.com"}, []string{"a.com", "b.com"}, true},
		{"*.example.com", []gatewayv1.Hostname{"a.example.com", "example.com", "a.other.com"}, []string{"a.example.com"}, true},
		{"a.example.com", []gatewayv1.Hostname{"*.example.com"}, []string{"a.example.com"}, true},
		{"*.example.com", []gatewayv1.Hostname{"*.a.example.com"}, []string{"*.a.example.com"}, true},
		{"a.example.com", []gatewayv1.Hostname{"b.example.com"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.listener+"/"+joinHosts(tt.route), func(t *testing.T) {
			got, ok := intersectHostnames(tt.listener, tt.route)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("intersectHostnames = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func joinHosts(hs []gatewayv1.Hostname) string {
	var s []string
	for _, h := range hs {
		s = append(s, string(h))
	}
	return strings.Join(s, ",")
}

func TestTranslateErrors(t *testing.T) {
	bad := newSnapshot()
	bad.Mesh.Spec.Defaults = &v1alpha1.MeshDefaults{ConnectTimeout: "soon"}
	withRoute := newSnapshot()
	addService(withRoute, "default", "api", nil, port("http", 80, "http"))
	rt := httpRoute("default", "slow", 0, []gatewayv1.ParentReference{serviceParent("api", 80)}, rule(nil, backend("api", 0, -1)))
	rt.Spec.Rules[0].Timeouts = &gatewayv1.HTTPRouteTimeouts{Request: ptr(gatewayv1.Duration("forever"))}
	withRoute.HTTPRoutes = []*gatewayv1.HTTPRoute{rt}
	up := wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080}

	tests := []struct {
		name    string
		snap    *mesh.Snapshot
		proxy   Proxy
		wantErr string
	}{
		{"nil snapshot", nil, Proxy{ID: "x"}, "no snapshot"},
		{"bad connect timeout", bad, Proxy{ID: "x"}, `connectTimeout "soon"`},
		{"bad mode", newSnapshot(), Proxy{ID: "x", Meta: wire.ProxyMeta{Mode: "router"}}, `unknown mode "router"`},
		{"bad app target", newSnapshot(),
			sidecarMeta("x", "default", "x", 15006, []wire.AppPort{{Port: 80, Target: "nowhere"}}), `target "nowhere"`},
		{"bad route timeout", withRoute, sidecarMeta("x", "default", "x", 0, nil, up), "spec.rules[0].timeouts.request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Translate(tt.snap, tt.proxy)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestProxylessTargets(t *testing.T) {
	s := newSnapshot()
	addService(s, "b", "svc", nil, port("grpc", 50051, "grpc"), port("raw", 9000, "tcp"))
	addService(s, "a", "svc", nil, port("http", 80, ""))
	got := ProxylessTargets(s)
	want := []wire.Upstream{
		{Service: "svc", Namespace: "a", Port: 80},
		{Service: "svc", Namespace: "b", Port: 50051},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestServiceParentPortAndSectionName(t *testing.T) {
	s := newSnapshot()
	addService(s, "default", "api", nil, port("http", 80, "http"), port("admin", 81, "http"))
	bySection := serviceParent("api", 0)
	bySection.SectionName = ptr(gatewayv1.SectionName("admin"))
	s.HTTPRoutes = []*gatewayv1.HTTPRoute{
		httpRoute("default", "all-ports", 0, []gatewayv1.ParentReference{serviceParent("api", 0)}, rule(nil, backend("api", 0, -1))),
		httpRoute("default", "by-port", 0, []gatewayv1.ParentReference{serviceParent("api", 80)}, rule(nil, backend("api", 0, -1))),
		httpRoute("default", "by-section", 0, []gatewayv1.ParentReference{bySection}, rule(nil, backend("api", 0, -1))),
	}
	res, err := Translate(s, sidecarMeta("c", "default", "c", 0, nil,
		wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080},
		wire.Upstream{Service: "api", Namespace: "default", Port: 81, LocalPort: 18081}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"api.default:80": {"default/all-ports/rule/0/match/0", "default/by-port/rule/0/match/0", "default"},
		"api.default:81": {"default/all-ports/rule/0/match/0", "default/by-section/rule/0/match/0", "default"},
	}
	// A backendRef without port goes to the parent's port.
	wantCluster := map[string]string{"api.default:80": "outbound|80||api.default", "api.default:81": "outbound|81||api.default"}
	for _, rc := range res.Routes {
		if got := routeNames(rc); !slices.Equal(got, want[rc.GetName()]) {
			t.Errorf("%s routes = %v, want %v", rc.GetName(), got, want[rc.GetName()])
		}
		for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
			if got := r.GetRoute().GetCluster(); got != wantCluster[rc.GetName()] {
				t.Errorf("%s route %s goes to %s, want %s", rc.GetName(), r.GetName(), got, wantCluster[rc.GetName()])
			}
		}
	}
}
