package mesh

import (
	"cmp"
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/wire"
)

// MeshFrom returns the Mesh held by r with its defaults filled in, or the default Mesh when r
// is nil or not a Mesh.
func MeshFrom(r *Resource) *v1alpha1.Mesh {
	if r == nil {
		return DefaultMesh()
	}
	m, ok := r.Object.(*v1alpha1.Mesh)
	if !ok {
		return DefaultMesh()
	}
	defaultMesh(m)
	return m
}

// BuildSnapshot builds the snapshot translate consumes from the stored resources, the live
// workloads and the trust bundle. It takes ownership of resources (they must not be changed
// afterwards). The Mesh defaults apply when no Mesh is stored; every workload's SPIFFE ID is
// derived from the Mesh's trust domain.
func BuildSnapshot(resources []*Resource, workloads []wire.Workload, trustBundle []byte) *Snapshot {
	snap := &Snapshot{
		Services:    map[NamespacedName]*v1alpha1.Service{},
		TrustBundle: slices.Clone(trustBundle),
	}
	for _, r := range resources {
		switch o := r.Object.(type) {
		case *v1alpha1.Mesh:
			snap.Mesh = MeshFrom(r)
		case *v1alpha1.Service:
			snap.Services[NamespacedName{Namespace: r.Namespace, Name: r.Name}] = o
		case *gatewayv1.HTTPRoute:
			snap.HTTPRoutes = append(snap.HTTPRoutes, o)
		case *gatewayv1.Gateway:
			snap.Gateways = append(snap.Gateways, o)
		case *v1alpha1.MTLSPolicy:
			snap.MTLSPolicies = append(snap.MTLSPolicies, o)
		case *v1alpha1.AuthorizationPolicy:
			snap.AuthorizationPolicies = append(snap.AuthorizationPolicies, o)
		}
	}
	if snap.Mesh == nil {
		snap.Mesh = DefaultMesh()
	}
	slices.SortFunc(snap.HTTPRoutes, func(a, b *gatewayv1.HTTPRoute) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(snap.Gateways, func(a, b *gatewayv1.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	sortAuthorizationPolicies(snap.AuthorizationPolicies)
	slices.SortFunc(snap.MTLSPolicies, func(a, b *v1alpha1.MTLSPolicy) int {
		return cmp.Or(cmp.Compare(a.Metadata.Namespace, b.Metadata.Namespace), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	td := snap.Mesh.Spec.TrustDomain
	snap.Workloads = make([]*wire.Workload, 0, len(workloads))
	for i := range workloads {
		w := workloads[i]
		w.SPIFFEID = wire.SPIFFEID(td, w.Namespace, w.ServiceAccount)
		snap.Workloads = append(snap.Workloads, &w)
	}
	slices.SortFunc(snap.Workloads, func(a, b *wire.Workload) int { return cmp.Compare(a.ID, b.ID) })
	return snap
}
