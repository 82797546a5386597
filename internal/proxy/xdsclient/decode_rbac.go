package xdsclient

import (
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// Names of the RBAC filters.
const (
	rbacHTTPName    = "envoy.filters.http.rbac"
	rbacNetworkName = "envoy.filters.network.rbac"
)

// maxRBACDepth bounds the nesting of and/or/not in permissions and principals.
const maxRBACDepth = 16

// decodeHTTPFilters decodes an HttpConnectionManager's filter list: RBAC filters, then the
// router, last. With RBAC filters, the connection manager must normalise paths as the data
// plane does before matching them (normalize_path, merge_slashes, and escaped slashes
// refused); without, those settings are refused, since the proxy normalises only where it
// authorizes. It returns nil when there is no RBAC filter.
func decodeHTTPFilters(h *hcmv3.HttpConnectionManager, p path) (*config.Authz, error) {
	fp := p.field("http_filters")
	filters := h.GetHttpFilters()
	if len(filters) == 0 {
		return nil, fp.errorf("the router (%s) is required, last", routerName)
	}
	last := len(filters) - 1
	var authz *config.Authz
	for i, f := range filters[:last] {
		rf, err := decodeHTTPRBAC(f, fp.index(i))
		if err != nil {
			return nil, err
		}
		if authz == nil {
			authz = &config.Authz{}
		}
		authz.Filters = append(authz.Filters, rf)
	}
	if err := checkRouter(filters[last], fp.index(last)); err != nil {
		return nil, err
	}
	normalised := h.GetNormalizePath().GetValue() && h.GetMergeSlashes() &&
		h.GetPathWithEscapedSlashesAction() == hcmv3.HttpConnectionManager_REJECT_REQUEST
	switch {
	case authz != nil && !normalised:
		return nil, p.errorf("RBAC filters need normalize_path: true, merge_slashes: true and " +
			"path_with_escaped_slashes_action: REJECT_REQUEST (the proxy matches normalised paths only)")
	case authz == nil && h.GetNormalizePath() != nil:
		return nil, p.field("normalize_path").errorf("is supported only with RBAC filters")
	case authz == nil && h.GetMergeSlashes():
		return nil, p.field("merge_slashes").errorf("is supported only with RBAC filters")
	case authz == nil && h.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT:
		return nil, p.field("path_with_escaped_slashes_action").errorf("is supported only with RBAC filters")
	}
	return authz, nil
}

// decodeHTTPRBAC decodes one HTTP filter placed before the router: only RBAC is supported.
func decodeHTTPRBAC(f *hcmv3.HttpFilter, p path) (*config.RBACFilter, error) {
	if err := onlyFields(f, p, "name", "typed_config"); err != nil {
		return nil, err
	}
	tc := f.GetTypedConfig()
	cfg := &rbachttpv3.RBAC{}
	if tc == nil || !tc.MessageIs(cfg) {
		if tc == nil && f.GetName() == rbacHTTPName {
			return nil, p.field("typed_config").errorf("typed_config is required")
		}
		if f.GetName() == routerName || tc.MessageIs(&routerv3.Router{}) {
			return nil, p.errorf("the router must be the last HTTP filter")
		}
		return nil, p.errorf("unsupported HTTP filter %q (before the router, only %s)", filterLabel(f.GetName(), tc), rbacHTTPName)
	}
	p = p.field("typed_config")
	if err := tc.UnmarshalTo(cfg); err != nil {
		return nil, p.errorf("decoding RBAC: %w", err)
	}
	err := onlyFields(cfg, p, "rules", "shadow_rules", "rules_stat_prefix", "shadow_rules_stat_prefix", "track_per_rule_stats")
	if err != nil {
		return nil, err
	}
	return decodeRBACFilter(cfg.GetRules(), cfg.GetShadowRules(), p)
}

// networkRBAC collects the network RBAC filters of a filter chain, which must come before its
// tcp proxy.
type networkRBAC struct {
	filters []*config.RBACFilter
	first   path
}

// take decodes f if it is a network RBAC filter, and reports whether it was.
func (n *networkRBAC) take(f *listenerv3.Filter, p path, chain *config.FilterChain) (bool, error) {
	tc := f.GetTypedConfig()
	cfg := &rbacnetv3.RBAC{}
	if !tc.MessageIs(cfg) && !(tc == nil && f.GetName() == rbacNetworkName) {
		return false, nil
	}
	if err := onlyFields(f, p, "name", "typed_config"); err != nil {
		return true, err
	}
	if tc == nil {
		return true, p.field("typed_config").errorf("typed_config is required")
	}
	if chain.HTTP != nil || chain.TCP != nil {
		return true, p.errorf("an RBAC filter must come before the %s", tcpFilterName)
	}
	p = p.field("typed_config")
	if err := tc.UnmarshalTo(cfg); err != nil {
		return true, p.errorf("decoding RBAC: %w", err)
	}
	if err := onlyFields(cfg, p, "rules", "shadow_rules", "stat_prefix", "shadow_rules_stat_prefix", "enforcement_type"); err != nil {
		return true, err
	}
	if cfg.GetEnforcementType() != rbacnetv3.RBAC_ONE_TIME_ON_FIRST_BYTE {
		return true, p.field("enforcement_type").errorf("unsupported enforcement %s (the proxy checks a connection once, when it opens)", cfg.GetEnforcementType())
	}
	rf, err := decodeRBACFilter(cfg.GetRules(), cfg.GetShadowRules(), p)
	if err != nil {
		return true, err
	}
	if len(n.filters) == 0 {
		n.first = p
	}
	n.filters = append(n.filters, rf)
	return true, nil
}

// attach gives the collected filters to the chain's tcp proxy.
func (n *networkRBAC) attach(chain *config.FilterChain) error {
	if len(n.filters) == 0 {
		return nil
	}
	if chain.TCP == nil {
		return n.first.errorf("network RBAC filters are supported only before the %s (HTTP chains take the HTTP RBAC filter)", tcpFilterName)
	}
	chain.TCP.Authz = &config.Authz{Filters: n.filters}
	return nil
}

func decodeRBACFilter(rules, shadow *rbacv3.RBAC, p path) (*config.RBACFilter, error) {
	out := &config.RBACFilter{}
	var err error
	if rules != nil {
		if out.Rules, err = decodeRBACRules(rules, p.field("rules")); err != nil {
			return nil, err
		}
	}
	if shadow != nil {
		if out.Shadow, err = decodeRBACRules(shadow, p.field("shadow_rules")); err != nil {
			return nil, err
		}
		if out.Shadow.Action == config.RBACLog {
			return nil, p.field("shadow_rules").field("action").errorf("LOG is not supported in shadow rules (use it in rules: it never denies)")
		}
	}
	if out.Rules == nil && out.Shadow == nil {
		return nil, p.errorf("rules or shadow_rules is required")
	}
	return out, nil
}

func decodeRBACRules(r *rbacv3.RBAC, p path) (*config.RBACRules, error) {
	if err := onlyFields(r, p, "action", "policies"); err != nil {
		return nil, err
	}
	out := &config.RBACRules{}
	switch r.GetAction() {
	case rbacv3.RBAC_ALLOW:
		out.Action = config.RBACAllow
	case rbacv3.RBAC_DENY:
		out.Action = config.RBACDeny
	case rbacv3.RBAC_LOG:
		out.Action = config.RBACLog
	default:
		return nil, p.field("action").errorf("unsupported action %s", r.GetAction())
	}
	names := make([]string, 0, len(r.GetPolicies()))
	for name := range r.GetPolicies() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pol, err := decodeRBACPolicy(name, r.GetPolicies()[name], p.field("policies").key(name))
		if err != nil {
			return nil, err
		}
		out.Policies = append(out.Policies, pol)
	}
	return out, nil
}

func decodeRBACPolicy(name string, pol *rbacv3.Policy, p path) (*config.RBACPolicy, error) {
	if err := onlyFields(pol, p, "permissions", "principals"); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, p.errorf("a policy name is required")
	}
	out := &config.RBACPolicy{Name: name}
	if len(pol.GetPermissions()) == 0 {
		return nil, p.field("permissions").errorf("at least one permission is required")
	}
	if len(pol.GetPrincipals()) == 0 {
		return nil, p.field("principals").errorf("at least one principal is required")
	}
	for i, perm := range pol.GetPermissions() {
		d, err := decodePermission(perm, p.field("permissions").index(i), 0)
		if err != nil {
			return nil, err
		}
		out.Permissions = append(out.Permissions, d)
	}
	for i, pr := range pol.GetPrincipals() {
		d, err := decodePrincipal(pr, p.field("principals").index(i), 0)
		if err != nil {
			return nil, err
		}
		out.Principals = append(out.Principals, d)
	}
	return out, nil
}

func decodePermission(perm *rbacv3.Permission, p path, depth int) (*config.Permission, error) {
	if perm == nil {
		return nil, p.errorf("a permission is required")
	}
	if depth > maxRBACDepth {
		return nil, p.errorf("nested more than %d levels deep", maxRBACDepth)
	}
	err := onlyFields(perm, p, "and_rules", "or_rules", "any", "header", "url_path", "destination_port", "not_rule")
	if err != nil {
		return nil, err
	}
	out := &config.Permission{}
	set := func(field string, rules []*rbacv3.Permission) ([]*config.Permission, error) {
		sp := p.field(field).field("rules")
		if len(rules) == 0 {
			return nil, sp.errorf("at least one rule is required")
		}
		var list []*config.Permission
		for i, r := range rules {
			d, err := decodePermission(r, sp.index(i), depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, d)
		}
		return list, nil
	}
	switch rule := perm.GetRule().(type) {
	case *rbacv3.Permission_Any:
		if !rule.Any {
			return nil, p.field("any").errorf("must be true")
		}
		out.Any = true
	case *rbacv3.Permission_AndRules:
		out.And, err = set("and_rules", rule.AndRules.GetRules())
	case *rbacv3.Permission_OrRules:
		out.Or, err = set("or_rules", rule.OrRules.GetRules())
	case *rbacv3.Permission_NotRule:
		out.Not, err = decodePermission(rule.NotRule, p.field("not_rule"), depth+1)
	case *rbacv3.Permission_DestinationPort:
		if rule.DestinationPort == 0 || rule.DestinationPort > 65535 {
			return nil, p.field("destination_port").errorf("port %d is out of range 1-65535", rule.DestinationPort)
		}
		out.DestinationPort = rule.DestinationPort
	case *rbacv3.Permission_Header:
		var h config.HeaderMatch
		h, err = decodeHeaderMatch(rule.Header, p.field("header"))
		out.Header = &h
	case *rbacv3.Permission_UrlPath:
		pp := p.field("url_path")
		if err := onlyFields(rule.UrlPath, pp, "path"); err != nil {
			return nil, err
		}
		if rule.UrlPath.GetPath() == nil {
			return nil, pp.field("path").errorf("a path matcher is required")
		}
		out.Path, err = decodeStringMatch(rule.UrlPath.GetPath(), pp.field("path"))
	default:
		return nil, p.errorf("a rule is required")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodePrincipal(pr *rbacv3.Principal, p path, depth int) (*config.Principal, error) {
	if pr == nil {
		return nil, p.errorf("a principal is required")
	}
	if depth > maxRBACDepth {
		return nil, p.errorf("nested more than %d levels deep", maxRBACDepth)
	}
	if err := onlyFields(pr, p, "and_ids", "or_ids", "any", "authenticated", "not_id"); err != nil {
		return nil, err
	}
	out := &config.Principal{}
	set := func(field string, ids []*rbacv3.Principal) ([]*config.Principal, error) {
		sp := p.field(field).field("ids")
		if len(ids) == 0 {
			return nil, sp.errorf("at least one principal is required")
		}
		var list []*config.Principal
		for i, id := range ids {
			d, err := decodePrincipal(id, sp.index(i), depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, d)
		}
		return list, nil
	}
	var err error
	switch id := pr.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		if !id.Any {
			return nil, p.field("any").errorf("must be true")
		}
		out.Any = true
	case *rbacv3.Principal_AndIds:
		out.And, err = set("and_ids", id.AndIds.GetIds())
	case *rbacv3.Principal_OrIds:
		out.Or, err = set("or_ids", id.OrIds.GetIds())
	case *rbacv3.Principal_NotId:
		out.Not, err = decodePrincipal(id.NotId, p.field("not_id"), depth+1)
	case *rbacv3.Principal_Authenticated_:
		ap := p.field("authenticated")
		if err := onlyFields(id.Authenticated, ap, "principal_name"); err != nil {
			return nil, err
		}
		out.Authenticated = true
		if pn := id.Authenticated.GetPrincipalName(); pn != nil {
			out.PrincipalName, err = decodeStringMatch(pn, ap.field("principal_name"))
		}
	default:
		return nil, p.errorf("an identifier is required")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeStringMatch decodes an exact, prefix or (full-match RE2) safe_regex string matcher.
func decodeStringMatch(sm *matcherv3.StringMatcher, p path) (*config.StringMatch, error) {
	if err := onlyFields(sm, p, "exact", "prefix", "safe_regex"); err != nil {
		return nil, err
	}
	switch pat := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		if pat.Exact == "" {
			re, err := decodeRegex(&matcherv3.RegexMatcher{Regex: "^$"}, p.field("exact"))
			return &config.StringMatch{Regex: re}, err
		}
		return &config.StringMatch{Exact: pat.Exact}, nil
	case *matcherv3.StringMatcher_Prefix:
		if pat.Prefix == "" {
			return nil, p.field("prefix").errorf("an empty prefix is not allowed")
		}
		return &config.StringMatch{Prefix: pat.Prefix}, nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := decodeRegex(pat.SafeRegex, p.field("safe_regex"))
		if err != nil {
			return nil, err
		}
		return &config.StringMatch{Regex: re}, nil
	}
	return nil, p.errorf("exact, prefix or safe_regex is required")
}
