package mesh

import (
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// DefaultConnectTimeout is the Mesh's default upstream connect timeout.
const DefaultConnectTimeout = "5s"

// defaultMesh fills in the Mesh defaults: the trust domain and the connect timeout.
func defaultMesh(m *v1alpha1.Mesh) {
	if m.APIVersion == "" {
		m.APIVersion = v1alpha1.GroupVersion
	}
	if m.Kind == "" {
		m.Kind = v1alpha1.KindMesh
	}
	if m.Spec.TrustDomain == "" {
		m.Spec.TrustDomain = v1alpha1.DefaultTrustDomain
	}
	if m.Spec.Defaults == nil {
		m.Spec.Defaults = &v1alpha1.MeshDefaults{}
	}
	if m.Spec.Defaults.ConnectTimeout == "" {
		m.Spec.Defaults.ConnectTimeout = DefaultConnectTimeout
	}
	defaultMeshTLS(m)
}

// DefaultMesh returns the Mesh in force when none is applied.
func DefaultMesh() *v1alpha1.Mesh {
	m := &v1alpha1.Mesh{Metadata: v1alpha1.ObjectMeta{Name: MeshName}}
	defaultMesh(m)
	return m
}

func defaultService(s *v1alpha1.Service) {
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].AppProtocol == "" {
			s.Spec.Ports[i].AppProtocol = v1alpha1.ProtocolHTTP
		}
	}
}

// Groups and kinds of references.
const (
	coreGroup    = ""
	coreGroupAlt = "core"
	kindService  = gatewayv1.Kind(KindService)
	kindGateway  = gatewayv1.Kind(KindGateway)
)

func ptr[T any](v T) *T { return &v }

// defaultHTTPRoute fills in the Gateway API defaults. A parentRef with kind Service and no
// group refers to the core Service, not to a Gateway API kind.
func defaultHTTPRoute(r *gatewayv1.HTTPRoute) {
	for i := range r.Spec.ParentRefs {
		ref := &r.Spec.ParentRefs[i]
		if ref.Kind == nil {
			ref.Kind = ptr(kindGateway)
		}
		if ref.Group == nil {
			if *ref.Kind == kindService {
				ref.Group = ptr(gatewayv1.Group(coreGroup))
			} else {
				ref.Group = ptr(gatewayv1.Group(gatewayv1.GroupName))
			}
		}
	}
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		if len(rule.Matches) == 0 {
			rule.Matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for j := range rule.Matches {
			m := &rule.Matches[j]
			if m.Path == nil {
				m.Path = &gatewayv1.HTTPPathMatch{}
			}
			if m.Path.Type == nil {
				m.Path.Type = ptr(gatewayv1.PathMatchPathPrefix)
			}
			if m.Path.Value == nil {
				m.Path.Value = ptr("/")
			}
			for k := range m.Headers {
				if m.Headers[k].Type == nil {
					m.Headers[k].Type = ptr(gatewayv1.HeaderMatchExact)
				}
			}
		}
		for j := range rule.BackendRefs {
			b := &rule.BackendRefs[j]
			if b.Group == nil {
				b.Group = ptr(gatewayv1.Group(coreGroup))
			}
			if b.Kind == nil {
				b.Kind = ptr(kindService)
			}
			if b.Weight == nil {
				b.Weight = ptr(int32(1))
			}
		}
	}
}
