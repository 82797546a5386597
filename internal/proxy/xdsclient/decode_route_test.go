package xdsclient

import (
	"regexp"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/internal/proxy/config"
)

func routeAction(cluster string) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}
}

func regexMatcher(re string) *matcherv3.RegexMatcher { return &matcherv3.RegexMatcher{Regex: re} }

func TestDecodeRouteAccepts(t *testing.T) {
	tests := []struct {
		name  string
		route *routev3.Route
		want  *config.Route
	}{
		{
			name:  "prefix to one cluster, Envoy's default timeout",
			route: &routev3.Route{Name: "r", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/a"}}, Action: routeAction("c")},
			want: &config.Route{Name: "r", Match: config.RouteMatch{Prefix: "/a"}, Clusters: []config.WeightedCluster{{Name: "c", Weight: 1}},
				TotalWeight: 1, Timeout: 15 * time.Second},
		},
		{
			name:  "empty prefix matches all",
			route: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{}}, Action: routeAction("c")},
			want: &config.Route{Match: config.RouteMatch{Prefix: "/"}, Clusters: []config.WeightedCluster{{Name: "c", Weight: 1}},
				TotalWeight: 1, Timeout: 15 * time.Second},
		},
		{
			name: "exact path, case sensitive, timeout disabled",
			route: &routev3.Route{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/x"}, CaseSensitive: wrapperspb.Bool(true)},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
					Timeout:          durationpb.New(0),
				}},
			},
			want: &config.Route{Match: config.RouteMatch{Path: "/x"}, Clusters: []config.WeightedCluster{{Name: "c", Weight: 1}}, TotalWeight: 1},
		},
		{
			name: "regex path and every header match",
			route: &routev3.Route{
				Match: &routev3.RouteMatch{
					PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: regexMatcher(`/v[0-9]+/.*`)},
					Headers: []*routev3.HeaderMatcher{
						{Name: "X-Exact", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "a"}}}},
						{Name: "x-re", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regexMatcher(`b|c`)}}}},
						{Name: "x-present", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
						{Name: "x-absent", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}},
						{Name: "x-not", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "d"}}}},
						{Name: "x-empty", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{}}}},
						{Name: "x-legacy", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "e"}},
						{Name: "x-bare"},
					},
				},
				Action: routeAction("c"),
			},
			want: &config.Route{
				Match: config.RouteMatch{
					PathRegex: regexp.MustCompile(`^(?:/v[0-9]+/.*)$`),
					Headers: []config.HeaderMatch{
						{Name: "x-exact", Exact: "a"},
						{Name: "x-re", Regex: regexp.MustCompile(`^(?:b|c)$`)},
						{Name: "x-present", Present: true},
						{Name: "x-absent", Present: true, Invert: true},
						{Name: "x-not", Exact: "d", Invert: true},
						{Name: "x-empty", Regex: regexp.MustCompile(`^$`)},
						{Name: "x-legacy", Exact: "e"},
						{Name: "x-bare", Present: true},
					},
				},
				Clusters: []config.WeightedCluster{{Name: "c", Weight: 1}}, TotalWeight: 1, Timeout: 15 * time.Second,
			},
		},
		{
			name: "weighted clusters with a zero weight",
			route: &routev3.Route{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
					Clusters: []*routev3.WeightedCluster_ClusterWeight{
						{Name: "a", Weight: wrapperspb.UInt32(3)},
						{Name: "b", Weight: wrapperspb.UInt32(0)},
						{Name: "c", Weight: wrapperspb.UInt32(7)},
					},
					TotalWeight: wrapperspb.UInt32(10),
				}}}},
			},
			want: &config.Route{Match: config.RouteMatch{Prefix: "/"},
				Clusters:    []config.WeightedCluster{{Name: "a", Weight: 3}, {Name: "b", Weight: 0}, {Name: "c", Weight: 7}},
				TotalWeight: 10, Timeout: 15 * time.Second},
		},
		{
			name: "direct response",
			route: &routev3.Route{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}},
			},
			want: &config.Route{Match: config.RouteMatch{Prefix: "/"}, DirectStatus: 500},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &routev3.RouteConfiguration{Name: "rt", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{tt.route}}}}
			got, err := decodeResource(TypeRoute, "rt", mustAny(t, rc))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := &config.RouteTable{Name: "rt", VirtualHosts: []*config.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*config.Route{tt.want}}}}
			if diff := cmp.Diff(want, got, cmpRegexp); diff != "" {
				t.Errorf("route table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRouteRefuses(t *testing.T) {
	prefix := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	weighted := func(total *wrapperspb.UInt32Value, weights ...uint32) *routev3.Route_Route {
		wc := &routev3.WeightedCluster{TotalWeight: total}
		for i, w := range weights {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: string(rune('a' + i)), Weight: wrapperspb.UInt32(w)})
		}
		return &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}}}
	}
	headerRoute := func(h *routev3.HeaderMatcher) *routev3.Route {
		return &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{h}}, Action: routeAction("c")}
	}
	const at = `route configuration "rt": virtual_hosts[0].routes[0]`
	tests := []struct {
		name  string
		route *routev3.Route
		vhost func(*routev3.VirtualHost)
		rc    func(*routev3.RouteConfiguration)
		want  string
	}{
		{
			name:  "redirect",
			route: &routev3.Route{Match: prefix, Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{}}},
			want:  at + `: unsupported route action "redirect"`,
		},
		{
			name:  "no action",
			route: &routev3.Route{Match: prefix},
			want:  at + `: a route action (route or direct_response) is required`,
		},
		{
			name:  "weights sum to zero",
			route: &routev3.Route{Match: prefix, Action: weighted(nil, 0, 0)},
			want:  at + `.route.weighted_clusters: the weights sum to zero`,
		},
		{
			name:  "total weight differs from the sum",
			route: &routev3.Route{Match: prefix, Action: weighted(wrapperspb.UInt32(100), 1, 2)},
			want:  at + `.route.weighted_clusters.total_weight: total_weight 100 is not the sum of the weights (3)`,
		},
		{
			name: "cluster from a header",
			route: &routev3.Route{Match: prefix, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_ClusterHeader{ClusterHeader: "x-cluster"}}}},
			want: at + `.route: unsupported field "cluster_header"`,
		},
		{
			name: "retry policy",
			route: &routev3.Route{Match: prefix, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx"}}}},
			want: at + `.route: unsupported field "retry_policy"`,
		},
		{
			name: "negative timeout",
			route: &routev3.Route{Match: prefix, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, Timeout: durationpb.New(-time.Second)}}},
			want: at + `.route.timeout: negative timeout -1s`,
		},
		{
			name:  "direct response status out of range",
			route: &routev3.Route{Match: prefix, Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 99}}},
			want:  at + `.direct_response.status: status 99 is out of range 200-599`,
		},
		{
			name:  "no path condition",
			route: &routev3.Route{Match: &routev3.RouteMatch{}, Action: routeAction("c")},
			want:  at + `.match: prefix, path or safe_regex is required`,
		},
		{
			name:  "invalid regex",
			route: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: regexMatcher(`(`)}}, Action: routeAction("c")},
			want:  at + `.match.safe_regex.regex: invalid RE2 expression "(": error parsing regexp: missing closing ): ` + "`^(?:()$`",
		},
		{
			name:  "case insensitive",
			route: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, CaseSensitive: wrapperspb.Bool(false)}, Action: routeAction("c")},
			want:  at + `.match.case_sensitive: case-insensitive path matching is not supported`,
		},
		{
			name: "query parameters",
			route: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				QueryParameters: []*routev3.QueryParameterMatcher{{Name: "q"}}}, Action: routeAction("c")},
			want: at + `.match: unsupported field "query_parameters"`,
		},
		{
			name: "header prefix match",
			route: headerRoute(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "a"}}}}),
			want: at + `.match.headers[0].string_match: unsupported field "prefix"`,
		},
		{
			name: "header match ignoring case",
			route: headerRoute(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "a"}, IgnoreCase: true}}}),
			want: at + `.match.headers[0].string_match: unsupported field "ignore_case"`,
		},
		{
			name:  "header range match",
			route: headerRoute(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{}}),
			want:  at + `.match.headers[0]: unsupported field "range_match"`,
		},
		{
			name:  "header without name",
			route: headerRoute(&routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}),
			want:  at + `.match.headers[0].name: a header name is required`,
		},
		{
			name:  "virtual host without domains",
			route: &routev3.Route{Match: prefix, Action: routeAction("c")},
			vhost: func(vh *routev3.VirtualHost) { vh.Domains = nil },
			want:  `route configuration "rt": virtual_hosts[0].domains: at least one domain is required`,
		},
		{
			name:  "virtual host with a retry policy",
			route: &routev3.Route{Match: prefix, Action: routeAction("c")},
			vhost: func(vh *routev3.VirtualHost) { vh.RetryPolicy = &routev3.RetryPolicy{} },
			want:  `route configuration "rt": virtual_hosts[0]: unsupported field "retry_policy"`,
		},
		{
			name:  "domain in two virtual hosts",
			route: &routev3.Route{Match: prefix, Action: routeAction("c")},
			rc: func(rc *routev3.RouteConfiguration) {
				rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: "b", Domains: []string{"A.example", "*"}})
			},
			want: `route configuration "rt": virtual_hosts[1].domains[1]: domain "*" is already in virtual_hosts[0]`,
		},
		{
			name:  "headers to add",
			route: &routev3.Route{Match: prefix, Action: routeAction("c")},
			rc:    func(rc *routev3.RouteConfiguration) { rc.ResponseHeadersToRemove = []string{"server"} },
			want:  `route configuration "rt": unsupported field "response_headers_to_remove"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vh := &routev3.VirtualHost{Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{tt.route}}
			if tt.vhost != nil {
				tt.vhost(vh)
			}
			rc := &routev3.RouteConfiguration{Name: "rt", VirtualHosts: []*routev3.VirtualHost{vh}}
			if tt.rc != nil {
				tt.rc(rc)
			}
			_, err := decodeResource(TypeRoute, "rt", mustAny(t, rc))
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}
