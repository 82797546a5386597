package xdsclient

import (
	"math"
	"regexp"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// defaultRouteTimeout is Envoy's route timeout when RouteAction.timeout is unset; an explicit
// zero disables it.
const defaultRouteTimeout = 15 * time.Second

// decodeRouteTable validates a RouteConfiguration (from RDS, or inline in an HTTP connection
// manager) and converts it.
func decodeRouteTable(rc *routev3.RouteConfiguration, p path) (*config.RouteTable, error) {
	if err := onlyFields(rc, p, "name", "virtual_hosts", "validate_clusters"); err != nil {
		return nil, err
	}
	rt := &config.RouteTable{Name: rc.GetName()}
	domains := map[string]int{}
	for i, vh := range rc.GetVirtualHosts() {
		vp := p.field("virtual_hosts").index(i)
		if err := onlyFields(vh, vp, "name", "domains", "routes", "metadata"); err != nil {
			return nil, err
		}
		if len(vh.GetDomains()) == 0 {
			return nil, vp.field("domains").errorf("at least one domain is required")
		}
		for j, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			if d == "" {
				return nil, vp.field("domains").index(j).errorf("empty domain")
			}
			if k, dup := domains[d]; dup {
				return nil, vp.field("domains").index(j).errorf("domain %q is already in virtual_hosts[%d]", d, k)
			}
			domains[d] = i
		}
		out := &config.VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
		for j, r := range vh.GetRoutes() {
			route, err := decodeRoute(r, vp.field("routes").index(j))
			if err != nil {
				return nil, err
			}
			out.Routes = append(out.Routes, route)
		}
		rt.VirtualHosts = append(rt.VirtualHosts, out)
	}
	return rt, nil
}

func decodeRoute(r *routev3.Route, p path) (*config.Route, error) {
	if err := onlyFields(r, p, "name", "match", "route", "direct_response", "metadata"); err != nil {
		switch {
		case r.GetRedirect() != nil:
			return nil, p.errorf("unsupported route action %q", "redirect")
		case r.GetFilterAction() != nil:
			return nil, p.errorf("unsupported route action %q", "filter_action")
		case r.GetNonForwardingAction() != nil:
			return nil, p.errorf("unsupported route action %q", "non_forwarding_action")
		}
		return nil, err
	}
	out := &config.Route{Name: r.GetName()}
	m, err := decodeRouteMatch(r.GetMatch(), p.field("match"))
	if err != nil {
		return nil, err
	}
	out.Match = m
	switch {
	case r.GetRoute() != nil:
		if err := decodeRouteAction(r.GetRoute(), p.field("route"), out); err != nil {
			return nil, err
		}
	case r.GetDirectResponse() != nil:
		dp := p.field("direct_response")
		dr := r.GetDirectResponse()
		if err := onlyFields(dr, dp, "status"); err != nil {
			return nil, err
		}
		if dr.GetStatus() < 200 || dr.GetStatus() > 599 {
			return nil, dp.field("status").errorf("status %d is out of range 200-599", dr.GetStatus())
		}
		out.DirectStatus = int(dr.GetStatus())
	default:
		return nil, p.errorf("a route action (route or direct_response) is required")
	}
	return out, nil
}

func decodeRouteMatch(m *routev3.RouteMatch, p path) (config.RouteMatch, error) {
	var out config.RouteMatch
	if m == nil {
		return out, p.errorf("a match is required")
	}
	if err := onlyFields(m, p, "prefix", "path", "safe_regex", "headers", "case_sensitive"); err != nil {
		return out, err
	}
	if cs := m.GetCaseSensitive(); cs != nil && !cs.GetValue() {
		return out, p.field("case_sensitive").errorf("case-insensitive path matching is not supported")
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.Prefix = ps.Prefix
		if out.Prefix == "" {
			// Envoy treats an empty prefix as matching every path.
			out.Prefix = "/"
		}
	case *routev3.RouteMatch_Path:
		if ps.Path == "" {
			return out, p.field("path").errorf("empty path")
		}
		out.Path = ps.Path
	case *routev3.RouteMatch_SafeRegex:
		re, err := decodeRegex(ps.SafeRegex, p.field("safe_regex"))
		if err != nil {
			return out, err
		}
		out.PathRegex = re
	default:
		return out, p.errorf("prefix, path or safe_regex is required")
	}
	for i, h := range m.GetHeaders() {
		hm, err := decodeHeaderMatch(h, p.field("headers").index(i))
		if err != nil {
			return out, err
		}
		out.Headers = append(out.Headers, hm)
	}
	return out, nil
}

func decodeHeaderMatch(h *routev3.HeaderMatcher, p path) (config.HeaderMatch, error) {
	out := config.HeaderMatch{Name: strings.ToLower(h.GetName()), Invert: h.GetInvertMatch()}
	err := onlyFields(h, p, "name", "string_match", "exact_match", "safe_regex_match", "present_match", "invert_match")
	if err != nil {
		return out, err
	}
	if out.Name == "" {
		return out, p.field("name").errorf("a header name is required")
	}
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case nil:
		// Envoy: with no match specifier the header must be present.
		out.Present = true
	case *routev3.HeaderMatcher_PresentMatch:
		// present_match: false matches when the header is absent.
		out.Present = true
		if !spec.PresentMatch {
			out.Invert = !out.Invert
		}
	case *routev3.HeaderMatcher_ExactMatch:
		setExact(&out, spec.ExactMatch)
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := decodeRegex(spec.SafeRegexMatch, p.field("safe_regex_match"))
		if err != nil {
			return out, err
		}
		out.Regex = re
	case *routev3.HeaderMatcher_StringMatch:
		sp := p.field("string_match")
		sm := spec.StringMatch
		if err := onlyFields(sm, sp, "exact", "safe_regex"); err != nil {
			return out, err
		}
		switch pat := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			setExact(&out, pat.Exact)
		case *matcherv3.StringMatcher_SafeRegex:
			re, err := decodeRegex(pat.SafeRegex, sp.field("safe_regex"))
			if err != nil {
				return out, err
			}
			out.Regex = re
		default:
			return out, sp.errorf("exact or safe_regex is required")
		}
	}
	return out, nil
}

// setExact sets an exact header match. An exact match of the empty value is expressed as a
// regular expression, since an empty Exact means "unset" in config.HeaderMatch.
func setExact(h *config.HeaderMatch, v string) {
	if v == "" {
		h.Regex = regexp.MustCompile(`^$`)
		return
	}
	h.Exact = v
}

// decodeRegex compiles an RE2 regular expression. Envoy's safe_regex must match the whole
// value, so the expression is anchored.
func decodeRegex(m *matcherv3.RegexMatcher, p path) (*regexp.Regexp, error) {
	if err := onlyFields(m, p, "regex", "google_re2"); err != nil {
		return nil, err
	}
	if m.GetRegex() == "" {
		return nil, p.field("regex").errorf("empty regular expression")
	}
	re, err := regexp.Compile(`^(?:` + m.GetRegex() + `)$`)
	if err != nil {
		return nil, p.field("regex").errorf("invalid RE2 expression %q: %w", m.GetRegex(), err)
	}
	return re, nil
}

func decodeRouteAction(a *routev3.RouteAction, p path, out *config.Route) error {
	if err := onlyFields(a, p, "cluster", "weighted_clusters", "timeout"); err != nil {
		return err
	}
	out.Timeout = defaultRouteTimeout
	if t := a.GetTimeout(); t != nil {
		if err := t.CheckValid(); err != nil {
			return p.field("timeout").errorf("invalid duration: %w", err)
		}
		if t.AsDuration() < 0 {
			return p.field("timeout").errorf("negative timeout %s", t.AsDuration())
		}
		out.Timeout = t.AsDuration()
	}
	switch cs := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		if cs.Cluster == "" {
			return p.field("cluster").errorf("empty cluster name")
		}
		out.Clusters = []config.WeightedCluster{{Name: cs.Cluster, Weight: 1}}
		out.TotalWeight = 1
	case *routev3.RouteAction_WeightedClusters:
		wp := p.field("weighted_clusters")
		wc := cs.WeightedClusters
		if err := onlyFields(wc, wp, "clusters", "total_weight"); err != nil {
			return err
		}
		if len(wc.GetClusters()) == 0 {
			return wp.field("clusters").errorf("at least one cluster is required")
		}
		var total uint64
		for i, c := range wc.GetClusters() {
			cp := wp.field("clusters").index(i)
			if err := onlyFields(c, cp, "name", "weight"); err != nil {
				return err
			}
			if c.GetName() == "" {
				return cp.field("name").errorf("empty cluster name")
			}
			w := c.GetWeight().GetValue()
			total += uint64(w)
			out.Clusters = append(out.Clusters, config.WeightedCluster{Name: c.GetName(), Weight: w})
		}
		if total == 0 {
			return wp.errorf("the weights sum to zero")
		}
		if total > math.MaxUint32 {
			return wp.errorf("the weights sum to %d, more than %d", total, uint64(math.MaxUint32))
		}
		if tw := wc.GetTotalWeight(); tw != nil && uint64(tw.GetValue()) != total {
			return wp.field("total_weight").errorf("total_weight %d is not the sum of the weights (%d)", tw.GetValue(), total)
		}
		out.TotalWeight = uint32(total)
	default:
		return p.errorf("cluster or weighted_clusters is required")
	}
	return nil
}
