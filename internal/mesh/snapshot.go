// Package mesh is the mesh model of the control plane: the resources users apply (Weft's own
// kinds and Gateway API routes), the registered workloads, and the validation that ties them
// together. It knows nothing of where they are stored nor of xDS.
package mesh

import (
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/wire"
)

// NamespacedName identifies a namespaced resource.
type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// Snapshot is a consistent view of everything translate needs: the applied resources, the
// registered workloads and the trust bundle. It is read-only once built.
type Snapshot struct {
	// Mesh is the mesh-wide configuration, with defaults filled in (never nil).
	Mesh *v1alpha1.Mesh
	// Services by namespace/name.
	Services map[NamespacedName]*v1alpha1.Service
	// HTTPRoutes, sorted by namespace/name.
	HTTPRoutes []*gatewayv1.HTTPRoute
	// Gateways, sorted by namespace/name.
	Gateways []*gatewayv1.Gateway
	// AuthorizationPolicies, sorted by namespace/name.
	AuthorizationPolicies []*v1alpha1.AuthorizationPolicy
	// MTLSPolicies, sorted by namespace/name.
	MTLSPolicies []*v1alpha1.MTLSPolicy
	// Workloads, sorted by ID.
	Workloads []*wire.Workload
	// TrustBundle is the PEM of the CA certificates every proxy trusts.
	TrustBundle []byte
}
