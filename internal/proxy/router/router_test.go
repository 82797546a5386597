package router

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// fakeReq is a Request over byte slices; it allocates nothing.
type fakeReq struct {
	host, path []byte
	hdr        [][2][]byte // lower-case name, value
}

func newReq(host, path string, hdr ...string) *fakeReq {
	r := &fakeReq{host: []byte(host), path: []byte(path)}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.hdr = append(r.hdr, [2][]byte{[]byte(strings.ToLower(hdr[i])), []byte(hdr[i+1])})
	}
	return r
}

func (r *fakeReq) Authority() []byte { return r.host }
func (r *fakeReq) Path() []byte      { return r.path }
func (r *fakeReq) Header(name string) ([]byte, bool) {
	for _, h := range r.hdr {
		if string(h[0]) == name {
			return h[1], true
		}
	}
	return nil, false
}

// resolveKnown resolves the clusters named in known to their names.
func resolveKnown(known ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, k := range known {
			if k == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("cluster %q not found", name)
	}
}

func to(name string) []config.WeightedCluster {
	return []config.WeightedCluster{{Name: name, Weight: 1}}
}

func route(name string, m config.RouteMatch, cluster string) *config.Route {
	return &config.Route{Name: name, Match: m, Clusters: to(cluster)}
}

func testTable(t *testing.T) *Table[string] {
	t.Helper()
	rt := &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{
		{Name: "exact", Domains: []string{"api.example.com", "api.example.com:8443"}, Routes: []*config.Route{
			route("exact-all", config.RouteMatch{Prefix: "/"}, "exact"),
		}},
		{Name: "suffix-long", Domains: []string{"*.eu.example.com"}, Routes: []*config.Route{route("sl", config.RouteMatch{Prefix: "/"}, "suffix-long")}},
		{Name: "suffix", Domains: []string{"*.example.com"}, Routes: []*config.Route{route("s", config.RouteMatch{Prefix: "/"}, "suffix")}},
		{Name: "prefix", Domains: []string{"internal.*"}, Routes: []*config.Route{route("p", config.RouteMatch{Prefix: "/"}, "prefix")}},
		{Name: "v6", Domains: []string{"[::1]"}, Routes: []*config.Route{route("v6", config.RouteMatch{Prefix: "/"}, "v6")}},
		{Name: "default", Domains: []string{"*"}, Routes: []*config.Route{
			route("exact-path", config.RouteMatch{Path: "/login"}, "login"),
			route("regex", config.RouteMatch{PathRegex: regexp.MustCompile(`/users/[0-9]+`)}, "users"),
			route("hdr-exact", config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "X-Version", Exact: "v2"}}}, "v2"),
			route("hdr-regex", config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "user-agent", Regex: regexp.MustCompile(`curl/.*`)}}}, "curl"),
			route("hdr-absent", config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "x-debug", Present: false}}}, "nodebug"),
			route("hdr-not-exact", config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "x-debug", Exact: "full", Invert: true}}}, "debug-partial"),
			route("api", config.RouteMatch{Prefix: "/api"}, "api"),
			{Name: "direct", Match: config.RouteMatch{Prefix: "/gone"}, DirectStatus: 410},
			route("all", config.RouteMatch{Prefix: "/"}, "default"),
		}},
	}}
	known := []string{"exact", "suffix-long", "suffix", "prefix", "v6", "login", "users", "v2", "curl", "nodebug", "debug-partial", "api", "default"}
	tbl, err := Compile(rt, resolveKnown(known...))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

func TestMatch(t *testing.T) {
	tbl := testTable(t)
	tests := []struct {
		name   string
		req    *fakeReq
		want   string // backend, "" for no route, "status:N" for a direct answer
		wantVH string
	}{
		{"exact domain", newReq("api.example.com", "/x"), "exact", "exact"},
		{"exact domain is case-insensitive", newReq("API.Example.COM", "/x"), "exact", "exact"},
		{"exact domain with its listed port", newReq("api.example.com:8443", "/x"), "exact", "exact"},
		{"port stripped for an unlisted port", newReq("api.example.com:9000", "/x"), "exact", "exact"},
		{"longest suffix wildcard wins", newReq("a.eu.example.com", "/"), "suffix-long", "suffix-long"},
		{"suffix wildcard", newReq("www.example.com:80", "/"), "suffix", "suffix"},
		{"suffix wildcard needs a label", newReq("example.com", "/"), "default", "default"},
		{"prefix wildcard", newReq("internal.corp", "/"), "prefix", "prefix"},
		{"bracketed IPv6 with port", newReq("[::1]:8080", "/"), "v6", "v6"},
		{"fallback", newReq("other", "/"), "default", "default"},
		{"exact path", newReq("h", "/login"), "login", "default"},
		{"exact path ignores the query", newReq("h", "/login?next=/"), "login", "default"},
		{"exact path is not a prefix", newReq("h", "/login/x"), "default", "default"},
		{"regex matches the whole path", newReq("h", "/users/12"), "users", "default"},
		{"regex is anchored", newReq("h", "/users/12/edit"), "default", "default"},
		{"regex is anchored at the start", newReq("h", "/x/users/12"), "default", "default"},
		{"header exact", newReq("h", "/api/a", "x-version", "v2", "x-debug", "1"), "v2", "default"},
		{"header exact is case-sensitive in value", newReq("h", "/api/a", "x-version", "V2", "x-debug", "1"), "debug-partial", "default"},
		{"header regex", newReq("h", "/api/a", "user-agent", "curl/8.0", "x-debug", "1"), "curl", "default"},
		{"header regex is anchored", newReq("h", "/api/a", "user-agent", "xcurl/8.0", "x-debug", "1"), "debug-partial", "default"},
		{"header absent", newReq("h", "/api/a"), "nodebug", "default"},
		{"inverted exact", newReq("h", "/api/a", "x-debug", "some"), "debug-partial", "default"},
		{"inverted exact excluded", newReq("h", "/api/a", "x-debug", "full"), "api", "default"},
		{"direct status", newReq("h", "/gone/x"), "status:410", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vh := tbl.VirtualHost(tc.req.host)
			if vh == nil || vh.Name != tc.wantVH {
				t.Fatalf("virtual host %v, want %q", vh, tc.wantVH)
			}
			r := tbl.Match(tc.req)
			got := ""
			switch {
			case r == nil:
			case r.DirectStatus != 0:
				got = fmt.Sprintf("status:%d", r.DirectStatus)
			default:
				got = r.Pick()
			}
			if got != tc.want {
				t.Fatalf("matched %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoVirtualHost(t *testing.T) {
	tbl, err := Compile(&config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{
		{Name: "only", Domains: []string{"a.example"}, Routes: []*config.Route{route("r", config.RouteMatch{Prefix: "/"}, "c")}},
	}}, resolveKnown("c"))
	if err != nil {
		t.Fatal(err)
	}
	if r := tbl.Match(newReq("b.example", "/")); r != nil {
		t.Fatalf("matched %q for an authority no virtual host serves", r.Name)
	}
}

func TestCompileErrors(t *testing.T) {
	vh := func(routes ...*config.Route) *config.RouteTable {
		return &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: routes}}}
	}
	tests := []struct {
		name string
		rt   *config.RouteTable
		want string
	}{
		{"unknown cluster", vh(route("r", config.RouteMatch{Prefix: "/"}, "missing")), `route "r": cluster "missing" not found`},
		{"weights sum to zero", vh(&config.Route{Name: "r", Match: config.RouteMatch{Prefix: "/"},
			Clusters: []config.WeightedCluster{{Name: "c", Weight: 0}, {Name: "d", Weight: 0}}}), "weights sum to zero"},
		{"no cluster nor status", vh(&config.Route{Name: "r", Match: config.RouteMatch{Prefix: "/"}}), "no cluster and no direct status"},
		{"two path conditions", vh(&config.Route{Name: "r", Match: config.RouteMatch{Prefix: "/", Path: "/x"}, Clusters: to("c")}), "more than one path condition"},
		{"direct status out of range", vh(&config.Route{Name: "r", DirectStatus: 42}), "out of range"},
		{"wildcard in the middle", &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"a.*.b"}}}}, "wildcard must be at the start or the end"},
		{"duplicate domain", &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{
			{Name: "a", Domains: []string{"x.example"}}, {Name: "b", Domains: []string{"X.example"}}}}, "appears in two virtual hosts"},
		{"no domain", &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "a"}}}, "has no domains"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rt, resolveKnown("c", "d"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPickByWeight(t *testing.T) {
	rt := &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*config.Route{
		{Name: "split", Match: config.RouteMatch{Prefix: "/"}, Clusters: []config.WeightedCluster{
			{Name: "a", Weight: 1}, {Name: "off", Weight: 0}, {Name: "b", Weight: 3}}},
	}}}}
	tbl, err := Compile(rt, resolveKnown("a", "b", "off"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Backends(); len(got) != 2 {
		t.Fatalf("Backends() = %v, want the two weighted ones", got)
	}
	r := tbl.Match(newReq("h", "/"))
	const n = 40000
	counts := map[string]int{}
	for range n {
		counts[r.Pick()]++
	}
	// Expect 10000 a (sd about 87): +-800 cannot be a fluke.
	if counts["off"] != 0 || counts["a"] < 9200 || counts["a"] > 10800 || counts["a"]+counts["b"] != n {
		t.Fatalf("picks %v, want about a=10000 b=30000 off=0", counts)
	}
}

func TestSingleBackendIgnoresWeight(t *testing.T) {
	rt := &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*config.Route{
		{Name: "one", Match: config.RouteMatch{Prefix: "/"}, Clusters: []config.WeightedCluster{{Name: "a", Weight: 0}}},
	}}}}
	tbl, err := Compile(rt, resolveKnown("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Match(newReq("h", "/")).Pick(); got != "a" {
		t.Fatalf("Pick() = %q", got)
	}
}

func TestMatchAndPickDoNotAllocate(t *testing.T) {
	tbl := testTable(t)
	reqs := []*fakeReq{
		newReq("API.example.com:9000", "/x"),
		newReq("a.eu.example.com", "/"),
		newReq("h", "/users/12?x=1"),
		newReq("h", "/api/a", "user-agent", "curl/8.0", "x-debug", "1"),
		newReq("h", "/api/a", "x-debug", "full"),
		newReq(strings.Repeat("long.", 80)+"example.com", "/"), // longer than the stack buffer
	}
	for i, r := range reqs[:len(reqs)-1] {
		allocs := testing.AllocsPerRun(200, func() {
			if m := tbl.Match(r); m != nil && m.DirectStatus == 0 {
				_ = m.Pick()
			}
		})
		if allocs != 0 {
			t.Errorf("request %d: %.1f allocations per Match+Pick, want 0", i, allocs)
		}
	}
	if m := tbl.Match(reqs[len(reqs)-1]); m == nil || m.Pick() != "suffix" {
		t.Errorf("long authority matched %v", m)
	}
}

func BenchmarkMatch(b *testing.B) {
	tbl := testTable(&testing.T{})
	r := newReq("h", "/api/a", "user-agent", "curl/8.0", "x-debug", "1")
	b.ReportAllocs()
	for b.Loop() {
		_ = tbl.Match(r).Pick()
	}
}
