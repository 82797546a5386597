package mesh

import (
	"fmt"
	"maps"
	"slices"
	"time"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Validate checks a batch of resources that is about to be applied on top of the existing
// (stored) resources: every field of every resource of the batch, and the references between
// resources in the set the store would hold afterwards (a resource of the batch replaces the
// stored one with the same key). A route must refer to Services and Gateways that exist in
// the store or in the batch, and a changed Service or Gateway must keep what stored routes
// refer to. Errors carry the index of the offending resource in the batch.
func Validate(batch, existing []*Resource) ErrorList {
	var all ErrorList
	seen := make(map[Key]int, len(batch))
	for i, r := range batch {
		e := &errs{res: r, idx: i}
		if j, dup := seen[r.Key()]; dup {
			e.add("", "appears more than once in this apply (first as its resource #%d): apply one version of it", j+1)
		} else {
			seen[r.Key()] = i
		}
		validateResource(e, r)
		all = append(all, e.list...)
	}
	v := newView(existing, batch)
	for i, r := range batch {
		e := &errs{res: r, idx: i}
		switch o := r.Object.(type) {
		case *gatewayv1.HTTPRoute:
			for _, ref := range routeRefs(o) {
				if msg, field := v.check(ref); msg != "" {
					e.add(field, "%s", msg)
				}
			}
		case *v1alpha1.Service, *gatewayv1.Gateway:
			checkReferrers(e, r, v, seen)
		}
		all = append(all, e.list...)
	}
	all = append(all, checkMTLSPolicies(batch, v, seen)...)
	return all
}

// ValidateDelete checks that the resource named by key may be deleted from existing: no
// stored route may refer to it.
func ValidateDelete(key Key, existing []*Resource) ErrorList {
	e := &errs{idx: -1}
	for _, r := range existing {
		route, ok := r.Object.(*gatewayv1.HTTPRoute)
		if !ok {
			continue
		}
		for _, ref := range routeRefs(route) {
			if ref.target() == key {
				e.list = append(e.list, &FieldError{
					Index: -1, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name,
					Message: fmt.Sprintf("is used by %s (%s); delete or change the route first", r.Key(), ref.field),
				})
			}
		}
	}
	e.list = append(e.list, mtlsPolicyReferrers(key, existing)...)
	return e.list
}

// validateResource checks the fields of one resource, without looking at other resources.
func validateResource(e *errs, r *Resource) {
	if r.Kind != KindMesh {
		if msg := ValidateDNSLabel(r.Namespace); msg != "" {
			e.add("metadata.namespace", "%s", msg)
		}
	}
	if msg := ValidateDNSLabel(r.Name); msg != "" {
		e.add("metadata.name", "%s", msg)
	}
	validateLabels(e, "metadata.labels", r.Labels())
	switch o := r.Object.(type) {
	case *v1alpha1.Mesh:
		validateMesh(e, o)
	case *v1alpha1.Service:
		validateService(e, o)
	case *gatewayv1.HTTPRoute:
		validateHTTPRoute(e, o)
	case *gatewayv1.Gateway:
		validateGateway(e, o)
	case *v1alpha1.MTLSPolicy:
		validateMTLSPolicy(e, o)
	case *v1alpha1.AuthorizationPolicy:
		validateAuthorizationPolicy(e, o)
	default:
		e.add("kind", "%q is not supported; supported: %s", r.Kind, SupportedKinds())
	}
}

func validateLabels(e *errs, field fieldPath, labels map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		switch {
		case k == "" || len(k) > 253:
			e.add(field, "key %q must have 1 to 253 characters", k)
		case len(v) > 63:
			e.add(field.child(k), "value is longer than 63 characters")
		}
	}
}

func validateMesh(e *errs, m *v1alpha1.Mesh) {
	if m.Metadata.Name != MeshName {
		e.add("metadata.name", "%q is not allowed: the Mesh is named %q (there is one per mesh)", m.Metadata.Name, MeshName)
	}
	if err := ValidateTrustDomain(m.Spec.TrustDomain); err != nil {
		e.add("spec.trustDomain", "%v", err)
	}
	validateMeshCertificates(e, m)
	if d := m.Spec.Defaults; d != nil && d.ConnectTimeout != "" {
		if t, err := time.ParseDuration(d.ConnectTimeout); err != nil || t <= 0 {
			e.add("spec.defaults.connectTimeout", "%q is not a positive duration (e.g. \"2s\")", d.ConnectTimeout)
		}
	}
	validateMeshTLS(e, m)
}

// appProtocols are the protocols a service port may declare.
var appProtocols = map[string]bool{
	v1alpha1.ProtocolHTTP: true, v1alpha1.ProtocolHTTP2: true, v1alpha1.ProtocolGRPC: true, v1alpha1.ProtocolTCP: true,
}

func validateService(e *errs, s *v1alpha1.Service) {
	ports := fieldPath("spec.ports")
	if len(s.Spec.Ports) == 0 {
		e.add(ports, "at least one port is required")
	}
	byNumber := map[int32]int{}
	byName := map[string]int{}
	for i, p := range s.Spec.Ports {
		f := ports.index(i)
		if p.Port < 1 || p.Port > 65535 {
			e.add(f.child("port"), "%d is out of range 1-65535", p.Port)
		} else if j, dup := byNumber[p.Port]; dup {
			e.add(f.child("port"), "%d is already used by spec.ports[%d]", p.Port, j)
		} else {
			byNumber[p.Port] = i
		}
		switch {
		case p.Name == "" && len(s.Spec.Ports) > 1:
			e.add(f.child("name"), "is required when the service has more than one port")
		case p.Name != "":
			if msg := ValidateDNSLabel(p.Name); msg != "" {
				e.add(f.child("name"), "%s", msg)
			} else if j, dup := byName[p.Name]; dup {
				e.add(f.child("name"), "%q is already used by spec.ports[%d]", p.Name, j)
			} else {
				byName[p.Name] = i
			}
		}
		if !appProtocols[p.AppProtocol] {
			e.add(f.child("appProtocol"), "%q is not supported; use http, http2, grpc or tcp", p.AppProtocol)
		}
		validateServerFirst(e, f, p)
	}
	for k := range s.Spec.Selector {
		if k == "" {
			e.add("spec.selector", "keys must not be empty")
		}
	}
}
