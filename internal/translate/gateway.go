package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/internal/wire"
)

// gateway builds, for each port of the HTTP listeners of the proxy's Gateway, a listener
// gateway|<port> on the proxy's address with the route configuration gateway|<ns>/<name>|<port>.
// A Gateway that does not exist (yet) gives no resources.
func (b *builder) gateway() error {
	meta := b.proxy.Meta
	var gw *gatewayv1.Gateway
	for _, g := range b.snap.Gateways {
		if g.Namespace == meta.Namespace && g.Name == meta.Gateway {
			gw = g
			break
		}
	}
	if gw == nil {
		return nil
	}
	byPort := map[int32][]*gatewayv1.Listener{}
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		if l.Protocol == gatewayv1.HTTPProtocolType {
			byPort[l.Port] = append(byPort[l.Port], l)
		}
	}
	ports := make([]int32, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, port := range ports {
		name := wire.GatewayRouteName(gw.Namespace, gw.Name, port)
		rc, err := b.gatewayRouteConfig(name, gw, byPort[port])
		if err != nil {
			return err
		}
		b.res.Routes = append(b.res.Routes, rc)
		filter, err := hcmFilter(hcmConfig{statPrefix: fmt.Sprintf("gateway_%d", port), rds: name})
		if err != nil {
			return err
		}
		b.res.Listeners = append(b.res.Listeners, &listenerv3.Listener{
			Name:         wire.GatewayListenerName(port),
			Address:      socketAddress(bindAddress(meta.Address), port),
			FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
		})
	}
	return nil
}

// gatewayListener is a Gateway listener with the routes attached to it.
type gatewayListener struct {
	l      *gatewayv1.Listener
	routes []*attachedRoute
}

// gatewayRouteConfig builds the virtual hosts of the listeners sharing one port. Each hostname
// the attached routes are effective for becomes a virtual host ("*" for routes of a listener
// without hostname that name none). A virtual host belongs to the most specific listener whose
// hostname covers it, and holds that listener's routes effective for the hostname, ordered by
// the most specific matching route hostname, then the usual match precedence.
func (b *builder) gatewayRouteConfig(name string, gw *gatewayv1.Gateway, listeners []*gatewayv1.Listener) (*routev3.RouteConfiguration, error) {
	listeners = slices.Clone(listeners)
	slices.SortStableFunc(listeners, compareListenerSpecificity)
	var gls []gatewayListener
	domains := map[string]bool{}
	for _, l := range listeners {
		gl := gatewayListener{l: l}
		for _, rt := range b.snap.HTTPRoutes {
			if !routeAllowed(gw, l, rt) {
				continue
			}
			attached := slices.ContainsFunc(rt.Spec.ParentRefs, func(ref gatewayv1.ParentReference) bool {
				return gatewayParentMatches(ref, rt.Namespace, gw, l)
			})
			if !attached {
				continue
			}
			hosts, ok := intersectHostnames(listenerHostname(l), rt.Spec.Hostnames)
			if !ok {
				continue
			}
			gl.routes = append(gl.routes, &attachedRoute{route: rt, hostnames: hosts})
			if hosts == nil {
				domains["*"] = true
			}
			for _, h := range hosts {
				domains[h] = true
			}
		}
		gls = append(gls, gl)
	}
	sorted := make([]string, 0, len(domains))
	for d := range domains {
		sorted = append(sorted, d)
	}
	slices.Sort(sorted)

	rc := &routev3.RouteConfiguration{Name: name}
	for _, domain := range sorted {
		owner := slices.IndexFunc(gls, func(gl gatewayListener) bool {
			return hostnameCovers(listenerHostname(gl.l), domain)
		})
		if owner < 0 {
			continue
		}
		var ms []routeMatch
		for _, ar := range gls[owner].routes {
			hostLen, wildcard, ok := matchingHostname(ar.hostnames, domain)
			if !ok {
				continue
			}
			for _, m := range matchesOf(ar) {
				m.hostLen, m.hostWildcard = hostLen, wildcard
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			continue
		}
		sortMatches(ms)
		routes, err := b.envoyRoutes(ms)
		if err != nil {
			return nil, err
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
			Name:    domain,
			Domains: vhostDomains(domain),
			Routes:  routes,
		})
	}
	return rc, nil
}

// vhostDomains are the Envoy domains of a virtual host for a hostname: an exact hostname also
// matches with any port in the Host header ("h:*"), since Envoy matches the authority with its
// port. (A wildcard hostname cannot carry a port pattern too: Envoy allows one "*".)
func vhostDomains(hostname string) []string {
	if hostname == "*" || strings.HasPrefix(hostname, "*.") {
		return []string{hostname}
	}
	return []string{hostname, hostname + ":*"}
}

// compareListenerSpecificity orders listeners: exact hostnames (longest first), then wildcard
// hostnames (longest first), then listeners without hostname; then by name.
func compareListenerSpecificity(a, b *gatewayv1.Listener) int {
	rank := func(l *gatewayv1.Listener) int {
		h := listenerHostname(l)
		switch {
		case h == "":
			return 2
		case strings.HasPrefix(h, "*."):
			return 1
		}
		return 0
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)),
		cmp.Compare(len(listenerHostname(b)), len(listenerHostname(a))),
		cmp.Compare(a.Name, b.Name))
}

func listenerHostname(l *gatewayv1.Listener) string {
	if l.Hostname == nil {
		return ""
	}
	return string(*l.Hostname)
}

// routeAllowed applies the listener's allowedRoutes: by default only routes of the Gateway's
// namespace attach; "All" lets any namespace attach. Namespace selectors are not supported
// (nothing attaches). When kinds are listed, HTTPRoute must be among them.
func routeAllowed(gw *gatewayv1.Gateway, l *gatewayv1.Listener, rt *gatewayv1.HTTPRoute) bool {
	from := gatewayv1.NamespacesFromSame
	if ar := l.AllowedRoutes; ar != nil {
		if ar.Namespaces != nil && ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		if len(ar.Kinds) > 0 && !slices.ContainsFunc(ar.Kinds, func(k gatewayv1.RouteGroupKind) bool {
			return k.Kind == "HTTPRoute" && (k.Group == nil || *k.Group == gatewayv1.GroupName)
		}) {
			return false
		}
	}
	switch from {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSame:
		return rt.Namespace == gw.Namespace
	}
	return false
}

// gatewayParentMatches reports whether a parentRef of a route in routeNS names the Gateway
// and, when it sets them, the listener's name (sectionName) and port.
func gatewayParentMatches(ref gatewayv1.ParentReference, routeNS string, gw *gatewayv1.Gateway, l *gatewayv1.Listener) bool {
	if ref.Group != nil && *ref.Group != gatewayv1.GroupName {
		return false
	}
	if ref.Kind != nil && *ref.Kind != "Gateway" {
		return false
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ns != gw.Namespace || string(ref.Name) != gw.Name {
		return false
	}
	if ref.SectionName != nil && *ref.SectionName != l.Name {
		return false
	}
	if ref.Port != nil && *ref.Port != l.Port {
		return false
	}
	return true
}

// hostnameCovers reports whether pattern (a hostname, a "*." wildcard, or "" for any)
// matches host (a hostname or a narrower wildcard).
func hostnameCovers(pattern, host string) bool {
	switch {
	case pattern == "" || pattern == host:
		return true
	case strings.HasPrefix(pattern, "*."):
		suffix := pattern[1:] // ".example.com"
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix) && host != "*"
	}
	return false
}

// intersectHostnames returns the hostnames a route is effective for on a listener: the
// route's hostnames the listener hostname covers, or the listener hostname where a route
// wildcard covers it; with no route hostnames, the listener's. nil means any hostname; ok is
// false when the route names hostnames and none intersects the listener's.
func intersectHostnames(listener string, route []gatewayv1.Hostname) ([]string, bool) {
	if len(route) == 0 {
		if listener == "" {
			return nil, true
		}
		return []string{listener}, true
	}
	var out []string
	for _, h := range route {
		rh := string(h)
		switch {
		case hostnameCovers(listener, rh):
			out = append(out, rh)
		case hostnameCovers(rh, listener):
			out = append(out, listener)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out, len(out) > 0
}

// matchingHostname finds the most specific of a route's effective hostnames that matches a
// virtual host domain, returning its length and whether it is a wildcard. A route for any
// hostname (nil) matches every domain with length 0.
func matchingHostname(hostnames []string, domain string) (length int, wildcard, ok bool) {
	if hostnames == nil {
		return 0, false, true
	}
	best := ""
	for _, h := range hostnames {
		if domain == "*" || !hostnameCovers(h, domain) {
			continue
		}
		hw, bw := strings.HasPrefix(h, "*."), strings.HasPrefix(best, "*.")
		if best == "" || (bw && !hw) || (bw == hw && len(h) > len(best)) {
			best = h
		}
	}
	if best == "" {
		return 0, false, false
	}
	return len(best), strings.HasPrefix(best, "*."), true
}
