package mesh

import (
	"fmt"
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// routeRef is a reference from a route to a Service or a Gateway.
type routeRef struct {
	kind        string // KindService or KindGateway
	namespace   string // resolved: the route's namespace when the reference names none
	name        string
	port        *int32
	sectionName *string
	routeNS     string
	field       fieldPath // e.g. spec.parentRefs[0] or spec.rules[0].backendRefs[1]
}

func (r routeRef) target() Key { return Key{Kind: r.kind, Namespace: r.namespace, Name: r.name} }

// routeRefs lists the well-formed references of a route (the malformed ones are reported by
// validateHTTPRoute).
func routeRefs(route *gatewayv1.HTTPRoute) []routeRef {
	var out []routeRef
	for i, p := range route.Spec.ParentRefs {
		group, kind := deref(p.Group), deref(p.Kind)
		ref := routeRef{
			name: string(p.Name), namespace: route.Namespace, routeNS: route.Namespace,
			port: p.Port, sectionName: (*string)(p.SectionName), field: fieldPath("spec.parentRefs").index(i),
		}
		if p.Namespace != nil {
			ref.namespace = string(*p.Namespace)
		}
		switch {
		case IsServiceRef(group, kind):
			ref.kind = KindService
		case isGatewayRef(group, kind):
			ref.kind = KindGateway
		default:
			continue
		}
		out = append(out, ref)
	}
	for i, rule := range route.Spec.Rules {
		for j, b := range rule.BackendRefs {
			if !IsServiceRef(deref(b.Group), deref(b.Kind)) {
				continue
			}
			ref := routeRef{
				kind: KindService, name: string(b.Name), namespace: route.Namespace, routeNS: route.Namespace,
				port: b.Port, field: fieldPath("spec.rules").index(i).child("backendRefs").index(j),
			}
			if b.Namespace != nil {
				ref.namespace = string(*b.Namespace)
			}
			out = append(out, ref)
		}
	}
	return out
}

// view is the set of resources a store would hold after a batch is applied.
type view struct {
	byKey  map[Key]*Resource
	routes []*Resource
}

func newView(existing, batch []*Resource) *view {
	v := &view{byKey: make(map[Key]*Resource, len(existing)+len(batch))}
	for _, r := range existing {
		v.byKey[r.Key()] = r
	}
	for _, r := range batch {
		v.byKey[r.Key()] = r
	}
	for _, r := range v.byKey {
		if r.Kind == KindHTTPRoute {
			v.routes = append(v.routes, r)
		}
	}
	slices.SortFunc(v.routes, func(a, b *Resource) int { return compareKeys(a.Key(), b.Key()) })
	return v
}

// check resolves a reference; it returns what is wrong and the field concerned, or "".
func (v *view) check(ref routeRef) (string, fieldPath) {
	key := ref.target()
	if ref.kind == KindGateway && ref.namespace != ref.routeNS {
		return fmt.Sprintf("%s accepts routes from its own namespace only", key), ref.field.child("namespace")
	}
	target, ok := v.byKey[key]
	if !ok {
		return fmt.Sprintf("%s does not exist", key), ref.field.child("name")
	}
	switch o := target.Object.(type) {
	case *v1alpha1.Service:
		if ref.port != nil {
			p, ok := servicePort(o, func(p v1alpha1.ServicePort) bool { return p.Port == *ref.port })
			if !ok {
				return fmt.Sprintf("%s has no port %d", key, *ref.port), ref.field.child("port")
			}
			if p.AppProtocol == v1alpha1.ProtocolTCP {
				return fmt.Sprintf("%s port %d is tcp: an HTTPRoute needs an http, http2 or grpc port", key, p.Port), ref.field.child("port")
			}
		}
		if ref.sectionName != nil {
			p, ok := servicePort(o, func(p v1alpha1.ServicePort) bool { return p.Name == *ref.sectionName })
			if !ok {
				return fmt.Sprintf("%s has no port named %q", key, *ref.sectionName), ref.field.child("sectionName")
			}
			if p.AppProtocol == v1alpha1.ProtocolTCP {
				return fmt.Sprintf("%s port %q is tcp: an HTTPRoute needs an http, http2 or grpc port", key, p.Name), ref.field.child("sectionName")
			}
		}
	case *gatewayv1.Gateway:
		if ref.port != nil && !gatewayHasPort(o, *ref.port) {
			return fmt.Sprintf("%s has no listener on port %d", key, *ref.port), ref.field.child("port")
		}
		if ref.sectionName != nil && !gatewayHasListener(o, *ref.sectionName) {
			return fmt.Sprintf("%s has no listener named %q", key, *ref.sectionName), ref.field.child("sectionName")
		}
	}
	return "", ""
}

// checkReferrers reports the stored routes (those not in the batch) that a changed Service or
// Gateway would break.
func checkReferrers(e *errs, changed *Resource, v *view, inBatch map[Key]int) {
	field := fieldPath("spec.ports")
	if changed.Kind == KindGateway {
		field = "spec.listeners"
	}
	for _, route := range v.routes {
		if _, ok := inBatch[route.Key()]; ok {
			continue
		}
		for _, ref := range routeRefs(route.Object.(*gatewayv1.HTTPRoute)) {
			if ref.target() != changed.Key() {
				continue
			}
			if msg, f := v.check(ref); msg != "" {
				e.add(field, "would break %s: %s: %s", route.Key(), f, msg)
			}
		}
	}
}

func servicePort(s *v1alpha1.Service, match func(v1alpha1.ServicePort) bool) (v1alpha1.ServicePort, bool) {
	for _, p := range s.Spec.Ports {
		if match(p) {
			return p, true
		}
	}
	return v1alpha1.ServicePort{}, false
}

func gatewayHasPort(g *gatewayv1.Gateway, port int32) bool {
	for _, l := range g.Spec.Listeners {
		if l.Port == port {
			return true
		}
	}
	return false
}

func gatewayHasListener(g *gatewayv1.Gateway, name string) bool {
	for _, l := range g.Spec.Listeners {
		if string(l.Name) == name {
			return true
		}
	}
	return false
}
