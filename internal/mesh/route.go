package mesh

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MaxWeight is the largest backendRef weight the Gateway API allows.
const MaxWeight = 1000000

func validateHTTPRoute(e *errs, r *gatewayv1.HTTPRoute) {
	spec := fieldPath("spec")
	if r.Spec.UseDefaultGateways != "" {
		e.notSupported(spec.child("useDefaultGateways"))
	}
	parents := spec.child("parentRefs")
	if len(r.Spec.ParentRefs) == 0 {
		e.add(parents, "at least one parent (a Service or a Gateway) is required")
	}
	seen := map[string]int{}
	for i, p := range r.Spec.ParentRefs {
		f := parents.index(i)
		validateParentRef(e, f, p)
		id := fmt.Sprintf("%s/%s/%s/%s/%s/%v", deref(p.Group), deref(p.Kind), deref(p.Namespace), p.Name, deref(p.SectionName), deref(p.Port))
		if j, dup := seen[id]; dup {
			e.add(f, "is the same parent as spec.parentRefs[%d]", j)
		} else {
			seen[id] = i
		}
	}
	for i, h := range r.Spec.Hostnames {
		if msg := validateHostname(string(h), true); msg != "" {
			e.add(spec.child("hostnames").index(i), "%s", msg)
		}
	}
	rules := spec.child("rules")
	if len(r.Spec.Rules) == 0 {
		e.add(rules, "at least one rule is required")
	}
	for i, rule := range r.Spec.Rules {
		validateRule(e, rules.index(i), rule, r.Namespace)
	}
}

func validateParentRef(e *errs, f fieldPath, p gatewayv1.ParentReference) {
	group, kind := deref(p.Group), deref(p.Kind)
	if !IsServiceRef(group, kind) && !isGatewayRef(group, kind) {
		e.add(f, "group %q kind %q is not supported: a parent is a Service (group \"\") or a Gateway (group %s)", group, kind, gatewayv1.GroupName)
	}
	if msg := ValidateDNSLabel(string(p.Name)); msg != "" {
		e.add(f.child("name"), "%s", msg)
	}
	if p.Namespace != nil {
		if msg := ValidateDNSLabel(string(*p.Namespace)); msg != "" {
			e.add(f.child("namespace"), "%s", msg)
		}
	}
	if p.Port != nil && (*p.Port < 1 || *p.Port > 65535) {
		e.add(f.child("port"), "%d is out of range 1-65535", *p.Port)
	}
	if p.SectionName != nil {
		if msg := validateHostname(string(*p.SectionName), false); msg != "" {
			e.add(f.child("sectionName"), "%s", msg)
		}
	}
}

func validateRule(e *errs, f fieldPath, rule gatewayv1.HTTPRouteRule, namespace string) {
	if rule.Name != nil {
		if msg := validateHostname(string(*rule.Name), false); msg != "" {
			e.add(f.child("name"), "%s", msg)
		}
	}
	if len(rule.Filters) > 0 {
		e.notSupported(f.child("filters"))
	}
	if rule.Retry != nil {
		e.notSupported(f.child("retry"))
	}
	if rule.SessionPersistence != nil {
		e.notSupported(f.child("sessionPersistence"))
	}
	if t := rule.Timeouts; t != nil {
		if t.Request != nil {
			if d, err := time.ParseDuration(string(*t.Request)); err != nil || d < 0 {
				e.add(f.child("timeouts").child("request"), "%q is not a duration (e.g. \"10s\", \"500ms\")", *t.Request)
			}
		}
		if t.BackendRequest != nil {
			e.notSupported(f.child("timeouts").child("backendRequest"))
		}
	}
	for j, m := range rule.Matches {
		validateMatch(e, f.child("matches").index(j), m)
	}
	backends := f.child("backendRefs")
	if len(rule.BackendRefs) == 0 {
		e.add(backends, "at least one backend is required")
	}
	for j, b := range rule.BackendRefs {
		validateBackendRef(e, backends.index(j), b, namespace)
	}
}

func validateMatch(e *errs, f fieldPath, m gatewayv1.HTTPRouteMatch) {
	if p := m.Path; p != nil {
		value := deref(p.Value)
		switch t := deref(p.Type); t {
		case gatewayv1.PathMatchPathPrefix, gatewayv1.PathMatchExact:
			if !strings.HasPrefix(value, "/") {
				e.add(f.child("path").child("value"), "%q must start with '/'", value)
			}
		case gatewayv1.PathMatchRegularExpression:
			if _, err := regexp.Compile(value); err != nil {
				e.add(f.child("path").child("value"), "%q is not a valid regular expression: %v", value, err)
			}
		default:
			e.add(f.child("path").child("type"), "%q is not supported; use PathPrefix, Exact or RegularExpression", t)
		}
	}
	seen := map[string]int{}
	for k, h := range m.Headers {
		hf := f.child("headers").index(k)
		name := string(h.Name)
		if !isHTTPToken(name) {
			e.add(hf.child("name"), "%q is not a valid HTTP header name", name)
		} else if j, dup := seen[strings.ToLower(name)]; dup {
			e.add(hf.child("name"), "%q is already matched by headers[%d]", name, j)
		} else {
			seen[strings.ToLower(name)] = k
		}
		switch t := deref(h.Type); t {
		case gatewayv1.HeaderMatchExact:
		case gatewayv1.HeaderMatchRegularExpression:
			if _, err := regexp.Compile(h.Value); err != nil {
				e.add(hf.child("value"), "%q is not a valid regular expression: %v", h.Value, err)
			}
		default:
			e.add(hf.child("type"), "%q is not supported; use Exact or RegularExpression", t)
		}
	}
	if len(m.QueryParams) > 0 {
		e.notSupported(f.child("queryParams"))
	}
	if m.Method != nil {
		e.notSupported(f.child("method"))
	}
}

func validateBackendRef(e *errs, f fieldPath, b gatewayv1.HTTPBackendRef, namespace string) {
	group, kind := deref(b.Group), deref(b.Kind)
	if !IsServiceRef(group, kind) {
		e.add(f, "group %q kind %q is not supported: a backend is a Service (group \"\")", group, kind)
	}
	if msg := ValidateDNSLabel(string(b.Name)); msg != "" {
		e.add(f.child("name"), "%s", msg)
	}
	if b.Namespace != nil && string(*b.Namespace) != namespace {
		e.add(f.child("namespace"), "%q: a backend in another namespace needs a ReferenceGrant, which is not supported yet", *b.Namespace)
	}
	switch {
	case b.Port == nil:
		e.add(f.child("port"), "is required")
	case *b.Port < 1 || *b.Port > 65535:
		e.add(f.child("port"), "%d is out of range 1-65535", *b.Port)
	}
	if b.Weight != nil && (*b.Weight < 0 || *b.Weight > MaxWeight) {
		e.add(f.child("weight"), "%d is out of range 0-%d", *b.Weight, MaxWeight)
	}
	if len(b.Filters) > 0 {
		e.notSupported(f.child("filters"))
	}
}

func validateGateway(e *errs, g *gatewayv1.Gateway) {
	spec := fieldPath("spec")
	if g.Spec.GatewayClassName != GatewayClassName {
		e.add(spec.child("gatewayClassName"), "%q is not supported; use %q", g.Spec.GatewayClassName, GatewayClassName)
	}
	if len(g.Spec.Addresses) > 0 {
		e.notSupported(spec.child("addresses"))
	}
	if g.Spec.Infrastructure != nil {
		e.notSupported(spec.child("infrastructure"))
	}
	if g.Spec.AllowedListeners != nil {
		e.notSupported(spec.child("allowedListeners"))
	}
	if g.Spec.TLS != nil {
		e.notSupported(spec.child("tls"))
	}
	if g.Spec.DefaultScope != "" {
		e.notSupported(spec.child("defaultScope"))
	}
	listeners := spec.child("listeners")
	if len(g.Spec.Listeners) == 0 {
		e.add(listeners, "at least one listener is required")
	}
	names, ports := map[string]int{}, map[int32]int{}
	for i, l := range g.Spec.Listeners {
		f := listeners.index(i)
		if msg := validateHostname(string(l.Name), false); msg != "" {
			e.add(f.child("name"), "%s", msg)
		} else if j, dup := names[string(l.Name)]; dup {
			e.add(f.child("name"), "%q is already used by spec.listeners[%d]", l.Name, j)
		} else {
			names[string(l.Name)] = i
		}
		if l.Hostname != nil {
			if msg := validateHostname(string(*l.Hostname), true); msg != "" {
				e.add(f.child("hostname"), "%s", msg)
			}
		}
		if l.Port < 1 || l.Port > 65535 {
			e.add(f.child("port"), "%d is out of range 1-65535", l.Port)
		} else if j, dup := ports[l.Port]; dup {
			e.add(f.child("port"), "%d is already used by spec.listeners[%d]", l.Port, j)
		} else {
			ports[l.Port] = i
		}
		if l.Protocol != gatewayv1.HTTPProtocolType {
			e.add(f.child("protocol"), "%q is not supported yet; use HTTP", l.Protocol)
		}
		if l.TLS != nil {
			e.notSupported(f.child("tls"))
		}
		validateAllowedRoutes(e, f.child("allowedRoutes"), l.AllowedRoutes)
	}
}

// GatewayClassName is the gatewayClassName of the Gateways Weft serves.
const GatewayClassName = "weft"

func validateAllowedRoutes(e *errs, f fieldPath, a *gatewayv1.AllowedRoutes) {
	if a == nil {
		return
	}
	if ns := a.Namespaces; ns != nil {
		if ns.From != nil && *ns.From != gatewayv1.NamespacesFromSame {
			e.add(f.child("namespaces").child("from"), "%q is not supported yet; only Same (routes of the Gateway's namespace)", *ns.From)
		}
		if ns.Selector != nil {
			e.notSupported(f.child("namespaces").child("selector"))
		}
	}
	for i, k := range a.Kinds {
		group := gatewayv1.Group(gatewayv1.GroupName)
		if k.Group != nil {
			group = *k.Group
		}
		if group != gatewayv1.GroupName || k.Kind != KindHTTPRoute {
			e.add(f.child("kinds").index(i), "group %q kind %q is not supported; only HTTPRoute", group, k.Kind)
		}
	}
}

// IsServiceRef reports whether a reference's group and kind name the core Service: group ""
// (what a missing group reads as) or its alias "core", kind Service.
func IsServiceRef(group gatewayv1.Group, kind gatewayv1.Kind) bool {
	return (group == coreGroup || group == coreGroupAlt) && kind == kindService
}

func isGatewayRef(group gatewayv1.Group, kind gatewayv1.Kind) bool {
	return group == gatewayv1.GroupName && kind == kindGateway
}

// isHTTPToken reports whether s is a valid HTTP field name (RFC 9110 token).
func isHTTPToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
