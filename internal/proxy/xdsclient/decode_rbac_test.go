package xdsclient

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// The RBAC protos below are those translate emits for: DENY /admin/ to everyone; ALLOW GET
// of /api/ to client, and anything to namespace ops; a dry-run DENY of DELETE.

func exactSM(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func prefixSM(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
}

func authenticatedAs(m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m}}}
}

func anyPrincipalPB() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func pathPerm(m *matcherv3.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{Rule: &matcherv3.PathMatcher_Path{Path: m}}}}
}

func methodPerm(m string) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{
		Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exactSM(m)},
	}}}
}

func denyAdminRBAC() *rbacv3.RBAC {
	return &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{
		"ops/deny-admin/rule/0": {Permissions: []*rbacv3.Permission{pathPerm(prefixSM("/admin/"))}, Principals: []*rbacv3.Principal{anyPrincipalPB()}},
	}}
}

func allowRBAC() *rbacv3.RBAC {
	return &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{
		"shop/payments-allow/rule/1": {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals:  []*rbacv3.Principal{authenticatedAs(prefixSM("spiffe://weft.local/ns/ops/sa/"))},
		},
		"shop/payments-allow/rule/0": {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: []*rbacv3.Permission{
				methodPerm("GET"), pathPerm(prefixSM("/api/")),
			}}}}},
			Principals: []*rbacv3.Principal{{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{
				authenticatedAs(exactSM("spiffe://weft.local/ns/shop/sa/client")),
				{Identifier: &rbacv3.Principal_NotId{NotId: anyPrincipalPB()}},
			}}}}},
		},
	}}
}

func dryRunRBAC() *rbacv3.RBAC {
	return &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{
		"shop/no-delete/rule/0": {Permissions: []*rbacv3.Permission{methodPerm("DELETE")}, Principals: []*rbacv3.Principal{anyPrincipalPB()}},
	}}
}

func rbacHTTPFilter(t testing.TB, cfg *rbachttpv3.RBAC) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: rbacHTTPName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, cfg)}}
}

// authzInbound is the inbound fixture with RBAC on both chains: HTTP filters on 8080 (with
// paths normalised), a network filter before the tcp proxy of 9000.
func authzInbound(t testing.TB) *listenerv3.Listener {
	l := inboundListener(t, "10.0.0.1", 15006)
	setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) {
		h.HttpFilters = []*hcmv3.HttpFilter{
			rbacHTTPFilter(t, &rbachttpv3.RBAC{Rules: denyAdminRBAC()}),
			rbacHTTPFilter(t, &rbachttpv3.RBAC{Rules: allowRBAC()}),
			rbacHTTPFilter(t, &rbachttpv3.RBAC{ShadowRules: dryRunRBAC()}),
			routerFilter(t),
		}
		h.NormalizePath = wrapperspb.Bool(true)
		h.MergeSlashes = true
		h.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_REJECT_REQUEST
	})
	fc := l.FilterChains[1]
	fc.Filters = append([]*listenerv3.Filter{networkFilter(t, rbacNetworkName, &rbacnetv3.RBAC{Rules: allowRBAC(), StatPrefix: "inbound_9000_authz"})}, fc.Filters...)
	return l
}

// setHCM edits the HttpConnectionManager of filter chain i of l.
func setHCM(t testing.TB, l *listenerv3.Listener, i int, edit func(*hcmv3.HttpConnectionManager)) {
	t.Helper()
	f := l.FilterChains[i].Filters[len(l.FilterChains[i].Filters)-1]
	h := &hcmv3.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)}
}

func wantAllow() *config.RBACRules {
	return &config.RBACRules{Action: config.RBACAllow, Policies: []*config.RBACPolicy{
		{
			Name: "shop/payments-allow/rule/0",
			Permissions: []*config.Permission{{And: []*config.Permission{
				{Header: &config.HeaderMatch{Name: ":method", Exact: "GET"}},
				{Path: &config.StringMatch{Prefix: "/api/"}},
			}}},
			Principals: []*config.Principal{{Or: []*config.Principal{
				{Authenticated: true, PrincipalName: &config.StringMatch{Exact: "spiffe://weft.local/ns/shop/sa/client"}},
				{Not: &config.Principal{Any: true}},
			}}},
		},
		{
			Name:        "shop/payments-allow/rule/1",
			Permissions: []*config.Permission{{Any: true}},
			Principals:  []*config.Principal{{Authenticated: true, PrincipalName: &config.StringMatch{Prefix: "spiffe://weft.local/ns/ops/sa/"}}},
		},
	}}
}

func TestDecodeRBAC(t *testing.T) {
	res, err := decodeResource(TypeListener, "inbound", mustAny(t, authzInbound(t)))
	if err != nil {
		t.Fatal(err)
	}
	l := res.(*listenerResource).listener
	wantHTTP := &config.Authz{Filters: []*config.RBACFilter{
		{Rules: &config.RBACRules{Action: config.RBACDeny, Policies: []*config.RBACPolicy{{
			Name: "ops/deny-admin/rule/0", Permissions: []*config.Permission{{Path: &config.StringMatch{Prefix: "/admin/"}}}, Principals: []*config.Principal{{Any: true}},
		}}}},
		{Rules: wantAllow()},
		{Shadow: &config.RBACRules{Action: config.RBACDeny, Policies: []*config.RBACPolicy{{
			Name: "shop/no-delete/rule/0", Permissions: []*config.Permission{{Header: &config.HeaderMatch{Name: ":method", Exact: "DELETE"}}}, Principals: []*config.Principal{{Any: true}},
		}}}},
	}}
	if diff := cmp.Diff(wantHTTP, l.FilterChains[0].HTTP.Authz, cmpRegexp); diff != "" {
		t.Errorf("HTTP chain authz (-want +got):\n%s", diff)
	}
	wantTCP := &config.Authz{Filters: []*config.RBACFilter{{Rules: wantAllow()}}}
	if diff := cmp.Diff(wantTCP, l.FilterChains[1].TCP.Authz, cmpRegexp); diff != "" {
		t.Errorf("TCP chain authz (-want +got):\n%s", diff)
	}
	if l.FilterChains[1].TCP.Cluster != "inbound|9000" {
		t.Errorf("tcp proxy cluster = %q", l.FilterChains[1].TCP.Cluster)
	}
}

func TestDecodeRBACStringMatchers(t *testing.T) {
	re := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "spiffe://weft.local/ns/[a-z]+/sa/client"}}}
	got, err := decodeStringMatch(re, "m")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Regex.MatchString("spiffe://weft.local/ns/shop/sa/client") || got.Regex.MatchString("x-spiffe://weft.local/ns/shop/sa/client") {
		t.Errorf("regex %q is not anchored as a full match", got.Regex)
	}
	empty, err := decodeStringMatch(exactSM(""), "m")
	if err != nil || empty.Regex == nil || !empty.Regex.MatchString("") || empty.Regex.MatchString("a") {
		t.Errorf("exact \"\" = %+v, %v; want a regex of the empty string", empty, err)
	}
}

func TestDecodeRBACRefuses(t *testing.T) {
	const chain0 = `listener "inbound": filter_chains[0].filters[0].typed_config`
	const chain1 = `listener "inbound": filter_chains[1].filters`
	withHTTPRules := func(r *rbacv3.RBAC) func(t *testing.T, l *listenerv3.Listener) {
		return func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters[1] = rbacHTTPFilter(t, &rbachttpv3.RBAC{Rules: r})
			})
		}
	}
	allowWith := func(perm *rbacv3.Permission, prin *rbacv3.Principal) *rbacv3.RBAC {
		return &rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{"p": {Permissions: []*rbacv3.Permission{perm}, Principals: []*rbacv3.Principal{prin}}}}
	}
	anyPerm := &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
	tests := []struct {
		name   string
		mutate func(t *testing.T, l *listenerv3.Listener)
		want   string
	}{
		{"RBAC without path normalisation", func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) { h.MergeSlashes = false })
		}, chain0 + `: RBAC filters need normalize_path: true, merge_slashes: true and path_with_escaped_slashes_action: REJECT_REQUEST (the proxy matches normalised paths only)`},
		{"normalisation without RBAC", func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) { h.HttpFilters = []*hcmv3.HttpFilter{routerFilter(t)} })
		}, chain0 + `.normalize_path: is supported only with RBAC filters`},
		{"router before RBAC", func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters[0], h.HttpFilters[3] = h.HttpFilters[3], h.HttpFilters[0]
			})
		}, chain0 + `.http_filters[0]: the router must be the last HTTP filter`},
		{"RBAC filter without rules", func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters[2] = rbacHTTPFilter(t, &rbachttpv3.RBAC{ShadowRulesStatPrefix: "x"})
			})
		}, chain0 + `.http_filters[2].typed_config: rules or shadow_rules is required`},
		{"LOG shadow rules", func(t *testing.T, l *listenerv3.Listener) {
			setHCM(t, l, 0, func(h *hcmv3.HttpConnectionManager) {
				r := dryRunRBAC()
				r.Action = rbacv3.RBAC_LOG
				h.HttpFilters[2] = rbacHTTPFilter(t, &rbachttpv3.RBAC{ShadowRules: r})
			})
		}, chain0 + `.http_filters[2].typed_config.shadow_rules.action: LOG is not supported in shadow rules (use it in rules: it never denies)`},
		{"destination IP", withHTTPRules(allowWith(&rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: &corev3.CidrRange{AddressPrefix: "10.0.0.0"}}}, anyPrincipalPB())),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].permissions[0]: unsupported field "destination_ip"`},
		{"source IP principal", withHTTPRules(allowWith(anyPerm, &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: &corev3.CidrRange{AddressPrefix: "10.0.0.0"}}})),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].principals[0]: unsupported field "direct_remote_ip"`},
		{"case-insensitive principal name", withHTTPRules(allowWith(anyPerm, authenticatedAs(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x"}, IgnoreCase: true}))),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].principals[0].authenticated.principal_name: unsupported field "ignore_case"`},
		{"suffix path", withHTTPRules(allowWith(pathPerm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: ".js"}}), anyPrincipalPB())),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].permissions[0].url_path.path: unsupported field "suffix"`},
		{"empty and_rules", withHTTPRules(allowWith(&rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{}}}, anyPrincipalPB())),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].permissions[0].and_rules.rules: at least one rule is required`},
		{"policy without principals", withHTTPRules(&rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{"p": {Permissions: []*rbacv3.Permission{anyPerm}}}}),
			chain0 + `.http_filters[1].typed_config.rules.policies["p"].principals: at least one principal is required`},
		{"audit logging options", withHTTPRules(&rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{"p": {Permissions: []*rbacv3.Permission{anyPerm}, Principals: []*rbacv3.Principal{anyPrincipalPB()}}}, AuditLoggingOptions: &rbacv3.RBAC_AuditLoggingOptions{}}),
			chain0 + `.http_filters[1].typed_config.rules: unsupported field "audit_logging_options"`},
		{"network RBAC after the tcp proxy", func(t *testing.T, l *listenerv3.Listener) {
			fc := l.FilterChains[1]
			fc.Filters[0], fc.Filters[1] = fc.Filters[1], fc.Filters[0]
		}, chain1 + `[1]: an RBAC filter must come before the envoy.filters.network.tcp_proxy`},
		{"network RBAC on an HTTP chain", func(t *testing.T, l *listenerv3.Listener) {
			fc := l.FilterChains[0]
			fc.Filters = append([]*listenerv3.Filter{l.FilterChains[1].Filters[0]}, fc.Filters...)
		}, `listener "inbound": filter_chains[0].filters[0].typed_config: network RBAC filters are supported only before the envoy.filters.network.tcp_proxy (HTTP chains take the HTTP RBAC filter)`},
		{"continuous enforcement", func(t *testing.T, l *listenerv3.Listener) {
			l.FilterChains[1].Filters[0] = networkFilter(t, rbacNetworkName, &rbacnetv3.RBAC{Rules: allowRBAC(), StatPrefix: "s", EnforcementType: rbacnetv3.RBAC_CONTINUOUS})
		}, chain1 + `[0].typed_config.enforcement_type: unsupported enforcement CONTINUOUS (the proxy checks a connection once, when it opens)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := authzInbound(t)
			tt.mutate(t, l)
			_, err := decodeResource(TypeListener, "inbound", mustAny(t, proto.Clone(l)))
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}
