package translate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
)

// authzFilters are the RBAC filters of one inbound filter chain, in the order they run: the
// enforced DENY policies, the enforced ALLOW policies, then one report-only filter per AUDIT or
// dry-run policy. Exactly one of the lists is used, by the chain's protocol.
type authzFilters struct {
	http    []*hcmv3.HttpFilter  // before the router (http, http2, grpc chains)
	network []*listenerv3.Filter // before the tcp proxy (tcp chains)
}

// rbacConfig is what one RBAC filter holds: enforced (or logged) rules and/or shadow rules.
type rbacConfig struct {
	rules, shadow *rbacv3.RBAC
}

// inboundAuthz builds the RBAC filters of the inbound chain of a service port. Every
// AuthorizationPolicy that targets the Mesh, the workload's namespace or its Service applies.
//
// A policy's rules are resolved for this port: a `to` entry whose ports leave this port out is
// dropped, and so is, on a tcp port, an entry with HTTP conditions (methods, paths, headers),
// which a connection can never match; a rule left with no entry does not apply here. Each rule
// is an Envoy policy named "<namespace>/<name>/rule/<index>", so that what the proxy reports
// names the AuthorizationPolicy and the rule. An ALLOW policy none of whose rules applies here
// still denies everything else: it is kept as a policy named "<namespace>/<name>" that matches
// nothing.
func (b *builder) inboundAuthz(port int32, protocol string) (authzFilters, error) {
	meta := b.proxy.Meta
	tcp := protocol == v1alpha1.ProtocolTCP
	deny := map[string]*rbacv3.Policy{}
	allow := map[string]*rbacv3.Policy{}
	allowApplies := false
	var report []rbacConfig
	for _, p := range b.snap.AuthorizationPolicies {
		if !mesh.AuthorizationPolicyApplies(p, meta.Namespace, meta.Service) {
			continue
		}
		rules := b.authzRules(p, port, tcp)
		switch {
		case p.Spec.Action == v1alpha1.AuthorizationAudit:
			if len(rules) > 0 {
				report = append(report, rbacConfig{rules: &rbacv3.RBAC{Action: rbacv3.RBAC_LOG, Policies: rules}})
			}
		case p.Spec.DryRun && p.Spec.Action == v1alpha1.AuthorizationDeny:
			if len(rules) > 0 {
				report = append(report, rbacConfig{shadow: &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: rules}})
			}
		case p.Spec.DryRun:
			if len(rules) == 0 {
				rules = matchNothing(p)
			}
			report = append(report, rbacConfig{shadow: &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: rules}})
		case p.Spec.Action == v1alpha1.AuthorizationDeny:
			maps.Copy(deny, rules)
		case p.Spec.Action == v1alpha1.AuthorizationAllow:
			allowApplies = true
			if len(rules) == 0 {
				rules = matchNothing(p)
			}
			maps.Copy(allow, rules)
		}
	}
	var configs []rbacConfig
	if len(deny) > 0 {
		configs = append(configs, rbacConfig{rules: &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: deny}})
	}
	if allowApplies {
		configs = append(configs, rbacConfig{rules: &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: allow}})
	}
	configs = append(configs, report...)

	var out authzFilters
	for _, c := range configs {
		if tcp {
			f, err := networkRBACFilter(fmt.Sprintf("inbound_%d_authz", port), c)
			if err != nil {
				return authzFilters{}, err
			}
			out.network = append(out.network, f)
			continue
		}
		f, err := httpRBACFilter(c)
		if err != nil {
			return authzFilters{}, err
		}
		out.http = append(out.http, f)
	}
	return out, nil
}

// authzRules resolves the rules of p for one port, as Envoy policies by name.
func (b *builder) authzRules(p *v1alpha1.AuthorizationPolicy, port int32, tcp bool) map[string]*rbacv3.Policy {
	out := map[string]*rbacv3.Policy{}
	for i, r := range p.Spec.Rules {
		perms := []*rbacv3.Permission{anyPermission()}
		if len(r.To) > 0 {
			perms = nil
			for _, op := range r.To {
				if perm, ok := operationPermission(op, port, tcp); ok {
					perms = append(perms, perm)
				}
			}
			if len(perms) == 0 {
				continue // the rule is about other ports, or about HTTP on a tcp port
			}
		}
		principals := []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Any{Any: true}}}
		if len(r.From) > 0 {
			principals = nil
			for _, src := range r.From {
				principals = append(principals, b.sourcePrincipal(p.Metadata.Namespace, src))
			}
		}
		name := p.Metadata.Namespace + "/" + p.Metadata.Name + "/rule/" + strconv.Itoa(i)
		out[name] = &rbacv3.Policy{Permissions: perms, Principals: principals}
	}
	return out
}

// matchNothing is the policy that names p where none of its rules applies.
func matchNothing(p *v1alpha1.AuthorizationPolicy) map[string]*rbacv3.Policy {
	return map[string]*rbacv3.Policy{
		p.Metadata.Namespace + "/" + p.Metadata.Name: {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_NotRule{NotRule: anyPermission()}}},
			Principals:  []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Any{Any: true}}},
		},
	}
}

func anyPermission() *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
}

// operationPermission is the permission of one `to` entry on a port; ok is false when the
// entry cannot match there.
func operationPermission(op v1alpha1.AuthorizationOperation, port int32, tcp bool) (*rbacv3.Permission, bool) {
	if len(op.Ports) > 0 && !slices.Contains(op.Ports, port) {
		return nil, false
	}
	if tcp && (len(op.Methods) > 0 || len(op.Paths) > 0 || len(op.Headers) > 0) {
		return nil, false
	}
	var all []*rbacv3.Permission
	if len(op.Methods) > 0 {
		var or []*rbacv3.Permission
		for _, m := range op.Methods {
			or = append(or, headerPermission(":method", m))
		}
		all = append(all, orPermissions(or))
	}
	if len(op.Paths) > 0 && !slices.Contains(op.Paths, "*") {
		var or []*rbacv3.Permission
		for _, p := range op.Paths {
			or = append(or, pathPermission(p))
		}
		all = append(all, orPermissions(or))
	}
	if len(op.Headers) > 0 {
		var or []*rbacv3.Permission
		for _, h := range op.Headers {
			or = append(or, headerPermission(strings.ToLower(h.Name), h.Value))
		}
		all = append(all, orPermissions(or))
	}
	switch len(all) {
	case 0:
		return anyPermission(), true
	case 1:
		return all[0], true
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: all}}}, true
}

func orPermissions(ps []*rbacv3.Permission) *rbacv3.Permission {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}

func headerPermission(name, value string) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{
		Name: name,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value},
		}},
	}}}
}

// pathPermission matches a policy path: "/prefix/*" by prefix, anything else exactly.
func pathPermission(p string) *rbacv3.Permission {
	sm := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: p}}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix}}
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
		Rule: &matcherv3.PathMatcher_Path{Path: sm},
	}}}
}

// sourcePrincipal is the principal of one `from` entry of a policy of namespace ns: the
// caller's authenticated URI SAN, with the entry's fields ANDed.
func (b *builder) sourcePrincipal(ns string, src v1alpha1.AuthorizationSource) *rbacv3.Principal {
	var all []*rbacv3.Principal
	if len(src.SPIFFEIDs) > 0 {
		var or []*rbacv3.Principal
		for _, id := range src.SPIFFEIDs {
			if prefix, ok := strings.CutSuffix(id, "*"); ok {
				or = append(or, authenticated(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix}}))
			} else {
				or = append(or, authenticated(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}}))
			}
		}
		all = append(all, orPrincipals(or))
	}
	switch {
	case len(src.ServiceAccounts) > 0:
		ids := b.serviceAccountIDs(ns, src)
		if len(ids) == 0 {
			// Every account names a namespace the entry does not list: nobody matches.
			all = append(all, &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}}})
			break
		}
		var or []*rbacv3.Principal
		for _, id := range ids {
			or = append(or, authenticated(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}}))
		}
		all = append(all, orPrincipals(or))
	case len(src.Namespaces) > 0:
		var or []*rbacv3.Principal
		for _, n := range src.Namespaces {
			prefix := "spiffe://" + b.trustDomain + "/ns/" + n + "/sa/"
			or = append(or, authenticated(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix}}))
		}
		all = append(all, orPrincipals(or))
	}
	if len(all) == 1 {
		return all[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: all}}}
}

// serviceAccountIDs lists the SPIFFE IDs a source's service accounts name, sorted: "NS/NAME"
// (kept when the entry lists no namespaces or lists NS), and "NAME" in each namespace the entry
// lists, else in the policy's namespace ns.
func (b *builder) serviceAccountIDs(ns string, src v1alpha1.AuthorizationSource) []string {
	var ids []string
	for _, sa := range src.ServiceAccounts {
		saNS, name := mesh.SplitServiceAccount(sa)
		if saNS != "" {
			if len(src.Namespaces) == 0 || slices.Contains(src.Namespaces, saNS) {
				ids = append(ids, mesh.SPIFFEID{TrustDomain: b.trustDomain, Namespace: saNS, ServiceAccount: name}.String())
			}
			continue
		}
		namespaces := src.Namespaces
		if len(namespaces) == 0 {
			namespaces = []string{ns}
		}
		for _, n := range namespaces {
			ids = append(ids, mesh.SPIFFEID{TrustDomain: b.trustDomain, Namespace: n, ServiceAccount: name}.String())
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func authenticated(m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{
		Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m},
	}}
}

func orPrincipals(ps []*rbacv3.Principal) *rbacv3.Principal {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ps}}}
}

// httpRBACFilter is the HTTP RBAC filter of c.
func httpRBACFilter(c rbacConfig) (*hcmv3.HttpFilter, error) {
	a, err := toAny(&rbachttpv3.RBAC{Rules: c.rules, ShadowRules: c.shadow})
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: wellknown.HTTPRoleBasedAccessControl, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// networkRBACFilter is the network RBAC filter of c, checked once per connection.
func networkRBACFilter(statPrefix string, c rbacConfig) (*listenerv3.Filter, error) {
	a, err := toAny(&rbacnetv3.RBAC{Rules: c.rules, ShadowRules: c.shadow, StatPrefix: statPrefix})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: wellknown.RoleBasedAccessControl, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}, nil
}
