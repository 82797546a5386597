package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenCase is a snapshot and a proxy whose resources are compared with testdata/<name>.json.
type goldenCase struct {
	name  string
	snap  func() *mesh.Snapshot
	proxy Proxy
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{
			// web serves http, grpc and tcp ports and calls api (http) and db (tcp).
			name: "sidecar",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				s.Mesh.Spec.Defaults = &v1alpha1.MeshDefaults{ConnectTimeout: "2s"}
				addService(s, "default", "web", nil,
					port("http", 8080, "http"), port("grpc", 9090, "grpc"), port("redis", 6379, "tcp"))
				addService(s, "default", "api", nil, port("http", 80, ""))
				addService(s, "data", "db", nil, port("pg", 5432, "tcp"))
				other := workload("api-9.other", "other", "api", "10.0.9.9")
				proxyless := workload("api-p.default", "default", "api", "10.0.0.30")
				proxyless.Proxyless = true
				addWorkloads(s,
					workload("api-1.default", "default", "api", "10.0.0.21"),
					workload("api-2.default", "default", "api", "10.0.0.20"),
					proxyless, other,
					workload("db-1.data", "data", "db", "10.0.1.5"),
					workload("web-1.default", "default", "web", "10.0.0.1"),
				)
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 15006,
				[]wire.AppPort{
					{Port: 9090, Target: "127.0.0.1:9091"},
					{Port: 8080, Target: "127.0.0.1:8081"},
					{Port: 6379, Target: "127.0.0.1:6380"},
				},
				wire.Upstream{Service: "db", Namespace: "data", Port: 5432, LocalPort: 15432},
				wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080},
			),
		},
		{
			// A 90/10 canary split of recommendation over two version Services that select
			// the recommendation workloads by their version label.
			name: "canary",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "default", "recommendation", nil, port("http", 8080, "http"))
				addService(s, "default", "recommendation-v1",
					map[string]string{"app": "recommendation", "version": "v1"}, port("http", 8080, "http"))
				addService(s, "default", "recommendation-v2",
					map[string]string{"app": "recommendation", "version": "v2"}, port("http", 8080, "http"))
				v1 := workload("rec-v1.default", "default", "recommendation", "10.0.0.11")
				v1.Version = "v1"
				v2 := workload("rec-v2.default", "default", "recommendation", "10.0.0.12")
				v2.Version = "v2"
				v2.ServiceAccount = "recommendation-canary"
				addWorkloads(s, v1, v2)
				s.HTTPRoutes = []*gatewayv1.HTTPRoute{
					httpRoute("default", "recommendation-canary", 0,
						[]gatewayv1.ParentReference{serviceParent("recommendation", 8080)},
						rule(nil, backend("recommendation-v1", 0, 90), backend("recommendation-v2", 0, 10))),
				}
				return s
			},
			proxy: sidecarMeta("frontend-1.default", "default", "frontend", 0, nil,
				wire.Upstream{Service: "recommendation", Namespace: "default", Port: 8080, LocalPort: 18080}),
		},
		{
			// Header, path, method and query matches over two routes, in precedence order.
			name: "matches",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "shop", "api", nil, port("http", 80, "http"))
				addService(s, "shop", "api-v1", map[string]string{"app": "api", "version": "v1"}, port("http", 80, "http"))
				addService(s, "shop", "api-v2", map[string]string{"app": "api", "version": "v2"}, port("http", 80, "http"))
				addService(s, "shop", "login", nil, port("http", 8000, "http"))
				regex := ptr(gatewayv1.HeaderMatchRegularExpression)
				s.HTTPRoutes = []*gatewayv1.HTTPRoute{
					// Newer route: loses ties against the older one.
					httpRoute("shop", "a-newer", 10,
						[]gatewayv1.ParentReference{serviceParent("api", 0)},
						rule([]gatewayv1.HTTPRouteMatch{{
							Path:    pathMatch(gatewayv1.PathMatchPathPrefix, "/api/"),
							Headers: []gatewayv1.HTTPHeaderMatch{headerMatch("X-Canary", "true")},
						}}, backend("api-v2", 0, -1)),
					),
					httpRoute("shop", "z-older", 0,
						[]gatewayv1.ParentReference{serviceParent("api", 80)},
						rule([]gatewayv1.HTTPRouteMatch{{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/api")}},
							backend("api-v1", 0, -1)),
						rule([]gatewayv1.HTTPRouteMatch{{
							Path:    pathMatch(gatewayv1.PathMatchPathPrefix, "/api"),
							Headers: []gatewayv1.HTTPHeaderMatch{{Type: regex, Name: "x-user", Value: "tester-[0-9]+"}},
						}}, backend("api-v2", 0, -1)),
						rule([]gatewayv1.HTTPRouteMatch{
							{Path: pathMatch(gatewayv1.PathMatchExact, "/login")},
							{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/login/"), Method: ptr(gatewayv1.HTTPMethodPost)},
						}, backend("login", 8000, -1)),
						rule([]gatewayv1.HTTPRouteMatch{{
							Path: pathMatch(gatewayv1.PathMatchRegularExpression, "/items/[0-9]+"),
							QueryParams: []gatewayv1.HTTPQueryParamMatch{
								{Name: "debug", Value: "1"},
							},
						}}, backend("api-v2", 0, -1)),
						rule([]gatewayv1.HTTPRouteMatch{{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/api/v2")}},
							backend("api-v2", 0, -1)),
					),
				}
				return s
			},
			proxy: sidecarMeta("web-1.shop", "shop", "web", 0, nil,
				wire.Upstream{Service: "api", Namespace: "shop", Port: 80, LocalPort: 18080}),
		},
		{
			// A rule whose backends all weigh 0 answers 500; a zero-weight backend is dropped.
			name: "zero-weights",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "default", "checkout", nil, port("http", 80, "http"))
				addService(s, "default", "checkout-v1", nil, port("http", 80, "http"))
				addService(s, "default", "checkout-v2", nil, port("http", 80, "http"))
				addWorkloads(s, workload("checkout-v1-1.default", "default", "checkout-v1", "10.0.0.5"))
				s.HTTPRoutes = []*gatewayv1.HTTPRoute{
					httpRoute("default", "checkout", 0,
						[]gatewayv1.ParentReference{serviceParent("checkout", 80)},
						rule([]gatewayv1.HTTPRouteMatch{{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/closed")}},
							backend("checkout-v1", 0, 0), backend("checkout-v2", 0, 0)),
						rule(nil, backend("checkout-v1", 0, 1), backend("checkout-v2", 0, 0)),
					),
				}
				return s
			},
			proxy: sidecarMeta("cart-1.default", "default", "cart", 0, nil,
				wire.Upstream{Service: "checkout", Namespace: "default", Port: 80, LocalPort: 18080}),
		},
		{
			// A gateway with two listeners on one port (one with a hostname) and one on
			// another port; a route of another namespace does not attach.
			name: "gateway",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "edge", "api", nil, port("http", 80, "http"))
				addService(s, "edge", "shop", nil, port("web", 8080, "http2"))
				addService(s, "edge", "admin", nil, port("http", 9000, "http"))
				addWorkloads(s,
					workload("api-1.edge", "edge", "api", "10.0.2.1"),
					workload("shop-1.edge", "edge", "shop", "10.0.2.2"),
				)
				s.Gateways = []*gatewayv1.Gateway{{
					ObjectMeta: metaOf("edge", "public"),
					Spec: gatewayv1.GatewaySpec{
						GatewayClassName: "weft",
						Listeners: []gatewayv1.Listener{
							{Name: "web", Port: 8080, Protocol: gatewayv1.HTTPProtocolType},
							{Name: "shop", Port: 8080, Protocol: gatewayv1.HTTPProtocolType,
								Hostname: ptr(gatewayv1.Hostname("*.shop.example.com"))},
							{Name: "admin", Port: 9000, Protocol: gatewayv1.HTTPProtocolType},
						},
					},
				}}
				shop := httpRoute("edge", "shop", 1,
					[]gatewayv1.ParentReference{gatewayParent("public", "shop")},
					rule(nil, backend("shop", 8080, -1)))
				shop.Spec.Hostnames = []gatewayv1.Hostname{"eu.shop.example.com", "*.shop.example.com"}
				s.HTTPRoutes = []*gatewayv1.HTTPRoute{
					httpRoute("edge", "admin", 0,
						[]gatewayv1.ParentReference{gatewayParent("public", "admin")},
						rule(nil, backend("admin", 9000, -1))),
					httpRoute("edge", "api", 0,
						[]gatewayv1.ParentReference{gatewayParent("public", "")},
						rule([]gatewayv1.HTTPRouteMatch{{Path: pathMatch(gatewayv1.PathMatchPathPrefix, "/api")}},
							backend("api", 80, -1))),
					shop,
					httpRoute("other", "sneaky", 0,
						[]gatewayv1.ParentReference{{Name: "public", Namespace: ptr(gatewayv1.Namespace("edge"))}},
						rule(nil, backend("api", 80, -1))),
				}
				return s
			},
			proxy: Proxy{ID: "gw-1.edge", Meta: wire.ProxyMeta{
				Mode: wire.ModeGateway, Namespace: "edge", Gateway: "public", Address: "10.0.2.100",
			}},
		},
		{
			// A proxyless gRPC client of greeter reaches proxyless workloads only, in
			// plaintext.
			name: "proxyless",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "default", "greeter", nil, port("grpc", 50051, "grpc"))
				a := workload("greeter-a.default", "default", "greeter", "127.0.0.1")
				a.InboundPort, a.Proxyless = 50061, true
				b := workload("greeter-b.default", "default", "greeter", "127.0.0.1")
				b.InboundPort, b.Proxyless = 50062, true
				addWorkloads(s, a, b, workload("greeter-c.default", "default", "greeter", "10.0.0.3"))
				return s
			},
			proxy: Proxy{ID: "client-1", Meta: wire.ProxyMeta{
				Mode:      wire.ModeProxyless,
				Upstreams: []wire.Upstream{{Service: "greeter", Namespace: "default", Port: 50051}},
			}},
		},
		{
			// payments selects its workloads by labels, not by service name.
			name: "selector",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				s.Mesh.Spec.TrustDomain = "corp.example"
				addService(s, "default", "payments", map[string]string{"tier": "backend", "team": "pay"},
					port("https", 8443, "http2"))
				selected := workload("pay-impl-1.default", "default", "pay-impl", "10.0.3.1")
				selected.Labels = map[string]string{"tier": "backend", "team": "pay"}
				withID := workload("pay-impl-2.default", "default", "pay-legacy", "10.0.3.2")
				withID.Labels = map[string]string{"tier": "backend", "team": "pay", "extra": "yes"}
				withID.SPIFFEID = "spiffe://corp.example/ns/default/sa/legacy"
				partial := workload("pay-x.default", "default", "pay-x", "10.0.3.3")
				partial.Labels = map[string]string{"tier": "backend"}
				elsewhere := workload("pay-y.prod", "prod", "pay-y", "10.0.3.4")
				elsewhere.Labels = selected.Labels
				wrongPort := workload("pay-z.default", "default", "pay-z", "10.0.3.5")
				wrongPort.Labels, wrongPort.Ports = selected.Labels, []int32{9999}
				addWorkloads(s, selected, withID, partial, elsewhere, wrongPort)
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 0, nil,
				wire.Upstream{Service: "payments", Namespace: "default", Port: 8443, LocalPort: 18443}),
		},
	}
}

func TestTranslateGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Translate(tc.snap(), tc.proxy)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			if !checkGolden(t, tc.name, res) {
				return
			}

			// The same inputs give byte-identical output.
			again, err := Translate(tc.snap(), tc.proxy)
			if err != nil {
				t.Fatalf("Translate again: %v", err)
			}
			if !equalResources(res, again) {
				t.Error("a second translation of the same inputs differs")
			}
		})
	}
}

// checkGolden compares the rendered resources with testdata/<name>.json, or rewrites that file
// with -update (and then returns false: there is nothing left to compare).
func checkGolden(t *testing.T, name string, res *Resources) bool {
	t.Helper()
	got, err := renderResources(res)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return false
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("resources differ from %s (run go test -update to accept):\n%s", path, lineDiff(want, got))
	}
	return true
}

// renderResources is the stable multiline JSON of a proxy's resources.
func renderResources(res *Resources) ([]byte, error) {
	type doc struct {
		Listeners []json.RawMessage `json:"listeners"`
		Routes    []json.RawMessage `json:"routes"`
		Clusters  []json.RawMessage `json:"clusters"`
		Endpoints []json.RawMessage `json:"endpoints"`
		Secrets   []json.RawMessage `json:"secrets"`
	}
	var d doc
	add := func(dst *[]json.RawMessage, m proto.Message) error {
		// protojson output is deliberately unstable in whitespace: normalise it.
		raw, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return err
		}
		*dst = append(*dst, json.RawMessage(buf.Bytes()))
		return nil
	}
	for _, m := range res.Listeners {
		if err := add(&d.Listeners, m); err != nil {
			return nil, err
		}
	}
	for _, m := range res.Routes {
		if err := add(&d.Routes, m); err != nil {
			return nil, err
		}
	}
	for _, m := range res.Clusters {
		if err := add(&d.Clusters, m); err != nil {
			return nil, err
		}
	}
	for _, m := range res.Endpoints {
		if err := add(&d.Endpoints, m); err != nil {
			return nil, err
		}
	}
	for _, m := range res.Secrets {
		if err := add(&d.Secrets, m); err != nil {
			return nil, err
		}
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// equalResources compares two results message by message.
func equalResources(a, b *Resources) bool {
	ra, errA := renderResources(a)
	rb, errB := renderResources(b)
	return errA == nil && errB == nil && bytes.Equal(ra, rb)
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	var out bytes.Buffer
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 20; i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			out.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g) + "\n")
			shown++
		}
	}
	return out.String()
}
