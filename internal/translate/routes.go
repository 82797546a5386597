package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
)

// attachedRoute is an HTTPRoute attached to one parent: a Service port (mesh) or a Gateway
// listener.
type attachedRoute struct {
	route *gatewayv1.HTTPRoute
	// parentPort is the port a backendRef without a port uses (0 for a Gateway parent).
	parentPort int32
	// hostnames the route is effective for on its parent; nil means any (mesh routes ignore
	// hostnames).
	hostnames []string
}

// pathKind orders path match types by precedence: Exact, then RegularExpression, then
// PathPrefix. The Gateway API leaves regular expressions implementation-specific; they go
// before prefixes so that a catch-all prefix never hides them.
type pathKind int

const (
	pathExact pathKind = iota
	pathRegex
	pathPrefix
)

// routeMatch is one match of one rule of an attached route: the unit that Gateway API
// precedence orders.
type routeMatch struct {
	ar                *attachedRoute
	ruleIdx, matchIdx int
	kind              pathKind
	path              string // for pathPrefix without a trailing "/" (except the root "/")
	method            string
	headers           []gatewayv1.HTTPHeaderMatch
	queries           []gatewayv1.HTTPQueryParamMatch
	// For gateway routes: the length of the route hostname that matched the virtual host,
	// and whether it was a wildcard.
	hostLen      int
	hostWildcard bool
}

// matchesOf expands the rules of an attached route into its matches. A rule without matches
// has one match: path prefix "/".
func matchesOf(ar *attachedRoute) []routeMatch {
	var out []routeMatch
	for ri, rule := range ar.route.Spec.Rules {
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for mi, m := range matches {
			rm := routeMatch{ar: ar, ruleIdx: ri, matchIdx: mi, kind: pathPrefix, path: "/"}
			if p := m.Path; p != nil {
				if p.Value != nil {
					rm.path = *p.Value
				}
				if p.Type != nil {
					switch *p.Type {
					case gatewayv1.PathMatchExact:
						rm.kind = pathExact
					case gatewayv1.PathMatchRegularExpression:
						rm.kind = pathRegex
					}
				}
			}
			if rm.kind == pathPrefix {
				rm.path = normalizePrefix(rm.path)
			}
			if m.Method != nil {
				rm.method = string(*m.Method)
			}
			rm.headers = firstHeaderMatches(m.Headers)
			rm.queries = firstQueryMatches(m.QueryParams)
			out = append(out, rm)
		}
	}
	return out
}

// normalizePrefix drops a trailing "/" (the Gateway API ignores it) and defaults to "/".
func normalizePrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "/"
	}
	return p
}

// firstHeaderMatches keeps the first match of each header name (names are case-insensitive);
// the Gateway API ignores later ones.
func firstHeaderMatches(in []gatewayv1.HTTPHeaderMatch) []gatewayv1.HTTPHeaderMatch {
	var out []gatewayv1.HTTPHeaderMatch
	seen := map[string]bool{}
	for _, h := range in {
		name := strings.ToLower(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, h)
	}
	return out
}

// firstQueryMatches keeps the first match of each query parameter name (case-sensitive).
func firstQueryMatches(in []gatewayv1.HTTPQueryParamMatch) []gatewayv1.HTTPQueryParamMatch {
	var out []gatewayv1.HTTPQueryParamMatch
	seen := map[string]bool{}
	for _, q := range in {
		if seen[string(q.Name)] {
			continue
		}
		seen[string(q.Name)] = true
		out = append(out, q)
	}
	return out
}

// compareMatches orders matches by Gateway API precedence: the most specific matching
// hostname (gateways), then Exact path > RegularExpression > longest PathPrefix, then a method
// match, then more header matches, then more query parameter matches, then the oldest route,
// then the route's namespace/name, then rule and match order within the route.
func compareMatches(a, b *routeMatch) int {
	if c := cmp.Compare(exactHostLen(b), exactHostLen(a)); c != 0 {
		return c
	}
	if c := cmp.Compare(b.hostLen, a.hostLen); c != 0 {
		return c
	}
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.path), len(a.path)); c != 0 {
		return c
	}
	if c := boolCompare(b.method != "", a.method != ""); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.queries), len(a.queries)); c != 0 {
		return c
	}
	ra, rb := a.ar.route, b.ar.route
	if ra != rb {
		if c := ra.CreationTimestamp.Time.Compare(rb.CreationTimestamp.Time); c != 0 {
			return c
		}
		if c := cmp.Or(cmp.Compare(ra.Namespace, rb.Namespace), cmp.Compare(ra.Name, rb.Name)); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.ruleIdx, b.ruleIdx); c != 0 {
		return c
	}
	// Matches of one rule: any order gives the same result; keep it stable.
	return cmp.Or(cmp.Compare(a.matchIdx, b.matchIdx), cmp.Compare(a.path, b.path))
}

// exactHostLen is the length of the matching hostname when it is not a wildcard.
func exactHostLen(m *routeMatch) int {
	if m.hostWildcard {
		return 0
	}
	return m.hostLen
}

// boolCompare orders false before true.
func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// sortMatches sorts matches by precedence.
func sortMatches(ms []routeMatch) {
	slices.SortStableFunc(ms, func(a, b routeMatch) int { return compareMatches(&a, &b) })
}

// ruleKey identifies a rule of a route.
type ruleKey struct {
	route *gatewayv1.HTTPRoute
	rule  int
}

// envoyRoutes turns ordered matches into Envoy routes. A PathPrefix match other than "/"
// becomes two routes (the exact path, then the prefix followed by "/") so that "/foo" does not
// match "/foobar", as the Gateway API requires.
func (b *builder) envoyRoutes(ms []routeMatch) ([]*routev3.Route, error) {
	actions := map[ruleKey]*routev3.Route{}
	var out []*routev3.Route
	for i := range ms {
		m := &ms[i]
		key := ruleKey{m.ar.route, m.ruleIdx}
		action, ok := actions[key]
		if !ok {
			var err error
			if action, err = b.ruleAction(m.ar, m.ruleIdx); err != nil {
				return nil, err
			}
			actions[key] = action
		}
		name := fmt.Sprintf("%s/%s/rule/%d/match/%d", m.ar.route.Namespace, m.ar.route.Name, m.ruleIdx, m.matchIdx)
		withPath := func(name string, match *routev3.RouteMatch) *routev3.Route {
			extra := routeMatchConditions(m)
			match.Headers, match.QueryParameters = extra.Headers, extra.QueryParameters
			r := gproto.CloneOf(action)
			r.Name, r.Match = name, match
			return r
		}
		switch {
		case m.kind == pathExact:
			out = append(out, withPath(name, &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: m.path}}))
		case m.kind == pathRegex:
			out = append(out, withPath(name, &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{
				SafeRegex: &matcherv3.RegexMatcher{Regex: m.path},
			}}))
		case m.path == "/":
			out = append(out, withPath(name, prefixMatch("/")))
		default:
			out = append(out,
				withPath(name+"/exact", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: m.path}}),
				withPath(name, prefixMatch(m.path+"/")))
		}
	}
	return out, nil
}

// routeMatchConditions holds the header (method included) and query conditions of a match.
func routeMatchConditions(m *routeMatch) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{}
	if m.method != "" {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 ":method",
			HeaderMatchSpecifier: stringMatch(gatewayv1.HeaderMatchExact, m.method),
		})
	}
	for _, h := range m.headers {
		typ := gatewayv1.HeaderMatchExact
		if h.Type != nil {
			typ = *h.Type
		}
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 strings.ToLower(string(h.Name)),
			HeaderMatchSpecifier: stringMatch(typ, h.Value),
		})
	}
	for _, q := range m.queries {
		sm := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: q.Value}}
		if q.Type != nil && *q.Type == gatewayv1.QueryParamMatchRegularExpression {
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
				SafeRegex: &matcherv3.RegexMatcher{Regex: q.Value},
			}}
		}
		rm.QueryParameters = append(rm.QueryParameters, &routev3.QueryParameterMatcher{
			Name:                         string(q.Name),
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm},
		})
	}
	return rm
}

// stringMatch is a header condition: exact value or regular expression (full match).
func stringMatch(typ gatewayv1.HeaderMatchType, v string) *routev3.HeaderMatcher_StringMatch {
	if typ == gatewayv1.HeaderMatchRegularExpression {
		return &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}},
		}}
	}
	return &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
		MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v},
	}}
}

// weightedBackend is a valid backendRef of a rule.
type weightedBackend struct {
	cluster string
	weight  uint32
}

// ruleAction returns a route carrying the action of a rule: its backends split by weight, or
// a direct 500 when no backend may receive traffic (every weight is 0, or no backendRef is
// valid). Backends with weight 0 and invalid backends (not a Service, a Service or port that
// does not exist, a tcp port) are dropped.
func (b *builder) ruleAction(ar *attachedRoute, ruleIdx int) (*routev3.Route, error) {
	rt := ar.route
	rule := rt.Spec.Rules[ruleIdx]
	var backends []weightedBackend
	for _, ref := range rule.BackendRefs {
		weight := int32(1)
		if ref.Weight != nil {
			weight = *ref.Weight
		}
		if weight <= 0 {
			continue
		}
		cluster, ok := b.backendCluster(rt, ref.BackendObjectReference, ar.parentPort)
		if !ok {
			continue
		}
		if i := slices.IndexFunc(backends, func(w weightedBackend) bool { return w.cluster == cluster }); i >= 0 {
			backends[i].weight += uint32(weight)
			continue
		}
		backends = append(backends, weightedBackend{cluster: cluster, weight: uint32(weight)})
	}
	if len(backends) == 0 {
		return &routev3.Route{Action: &routev3.Route_DirectResponse{
			DirectResponse: &routev3.DirectResponseAction{Status: 500},
		}}, nil
	}
	timeout := durationpb.New(0)
	if t := rule.Timeouts; t != nil && t.Request != nil {
		d, err := time.ParseDuration(string(*t.Request))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("httproute %s/%s spec.rules[%d].timeouts.request %q is not a duration",
				rt.Namespace, rt.Name, ruleIdx, *t.Request)
		}
		timeout = durationpb.New(d)
	}
	action := &routev3.RouteAction{Timeout: timeout}
	if len(backends) == 1 {
		action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: backends[0].cluster}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, be := range backends {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
				Name:   be.cluster,
				Weight: wrapperspb.UInt32(be.weight),
			})
		}
		action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	return &routev3.Route{Action: &routev3.Route_Route{Route: action}}, nil
}

// backendCluster resolves a backendRef to the outbound cluster of a Service port.
func (b *builder) backendCluster(rt *gatewayv1.HTTPRoute, ref gatewayv1.BackendObjectReference, parentPort int32) (string, bool) {
	if ref.Group != nil && *ref.Group != "" && *ref.Group != "core" {
		return "", false
	}
	if ref.Kind != nil && *ref.Kind != "Service" {
		return "", false
	}
	ns := rt.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	port := parentPort
	if ref.Port != nil {
		port = *ref.Port
	}
	svc, sp, ok := b.servicePort(ns, string(ref.Name), port)
	if !ok || appProtocol(sp) == v1alpha1.ProtocolTCP {
		return "", false
	}
	return b.useCluster(ns, string(ref.Name), svc, sp), true
}

// serviceParentMatches reports whether a parentRef of a route in routeNS names the port of
// the Service key (by port number or, with sectionName, by port name).
func serviceParentMatches(ref gatewayv1.ParentReference, routeNS string, key mesh.NamespacedName, port v1alpha1.ServicePort) bool {
	if !mesh.IsServiceRef(deref(ref.Group), deref(ref.Kind)) {
		return false
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ns != key.Namespace || string(ref.Name) != key.Name {
		return false
	}
	if ref.Port != nil && *ref.Port != port.Port {
		return false
	}
	if ref.SectionName != nil && string(*ref.SectionName) != port.Name {
		return false
	}
	return true
}

// deref is *p, or the zero value when p is nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// meshRoutes returns the routes attached to a Service port as seen from a client in
// clientNS. Routes in the Service's namespace (producer routes) apply to every client; routes
// in the client's own namespace (consumer routes, GAMMA) apply to that namespace's clients and,
// when there are any, replace the producer routes for them. Routes elsewhere are ignored.
func (b *builder) meshRoutes(key mesh.NamespacedName, port v1alpha1.ServicePort, clientNS string) []*attachedRoute {
	var producer, consumer []*attachedRoute
	for _, rt := range b.snap.HTTPRoutes {
		if rt.Namespace != key.Namespace && (clientNS == "" || rt.Namespace != clientNS) {
			continue
		}
		attached := slices.ContainsFunc(rt.Spec.ParentRefs, func(ref gatewayv1.ParentReference) bool {
			return serviceParentMatches(ref, rt.Namespace, key, port)
		})
		if !attached {
			continue
		}
		ar := &attachedRoute{route: rt, parentPort: port.Port}
		if rt.Namespace == key.Namespace {
			producer = append(producer, ar)
		} else {
			consumer = append(consumer, ar)
		}
	}
	if len(consumer) > 0 {
		return consumer
	}
	return producer
}

// serviceRouteConfig is the route configuration "<svc>.<ns>:<port>": one virtual host "*"
// with the routes attached to the Service port in precedence order, then a default route "/"
// to the Service itself.
func (b *builder) serviceRouteConfig(name string, key mesh.NamespacedName, svc *v1alpha1.Service, port v1alpha1.ServicePort) (*routev3.RouteConfiguration, error) {
	var ms []routeMatch
	for _, ar := range b.meshRoutes(key, port, b.proxy.Meta.Namespace) {
		ms = append(ms, matchesOf(ar)...)
	}
	sortMatches(ms)
	routes, err := b.envoyRoutes(ms)
	if err != nil {
		return nil, err
	}
	self := b.useCluster(key.Namespace, key.Name, svc, port)
	routes = append(routes, clusterRoute("default", prefixMatch("/"), self))
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: []string{"*"},
			Routes:  routes,
		}},
	}, nil
}
