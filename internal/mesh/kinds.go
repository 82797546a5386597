package mesh

import (
	"slices"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Kinds of resources weftd accepts.
const (
	KindMesh      = v1alpha1.KindMesh
	KindService   = v1alpha1.KindService
	KindHTTPRoute = "HTTPRoute"
	KindGateway   = "Gateway"
	// KindAuthorizationPolicy is Weft's authorization policy (docs/security-authz.md).
	KindAuthorizationPolicy = v1alpha1.KindAuthorizationPolicy
)

// GatewayAPIVersion is the apiVersion of the Gateway API kinds weftd accepts.
const GatewayAPIVersion = gatewayv1.GroupName + "/v1"

// DefaultNamespace is the namespace of a namespaced resource that does not name one.
const DefaultNamespace = "default"

// MeshName is the only allowed name of the Mesh resource.
const MeshName = "default"

// KindInfo describes a kind of resource.
type KindInfo struct {
	// Kind is the canonical name, e.g. "HTTPRoute".
	Kind string
	// APIVersion is the group/version the kind is served under.
	APIVersion string
	// Plural is the lower-case plural used in API paths, e.g. "httproutes".
	Plural string
	// Namespaced is false for cluster-scoped kinds (Mesh).
	Namespaced bool
	// Short are extra accepted short names, e.g. "svc".
	Short []string
}

var kinds = []KindInfo{
	{Kind: KindMesh, APIVersion: v1alpha1.GroupVersion, Plural: "meshes"},
	{Kind: KindService, APIVersion: v1alpha1.GroupVersion, Plural: "services", Namespaced: true, Short: []string{"svc"}},
	{Kind: KindHTTPRoute, APIVersion: GatewayAPIVersion, Plural: "httproutes", Namespaced: true},
	{Kind: KindGateway, APIVersion: GatewayAPIVersion, Plural: "gateways", Namespaced: true, Short: []string{"gw"}},
	{Kind: KindMTLSPolicy, APIVersion: v1alpha1.GroupVersion, Plural: "mtlspolicies", Namespaced: true, Short: []string{"mtlspolicy", "mtls"}},
	{Kind: KindAuthorizationPolicy, APIVersion: v1alpha1.GroupVersion, Plural: "authorizationpolicies", Namespaced: true, Short: []string{"authz"}},
}

// Kinds lists the supported kinds in a stable order.
func Kinds() []KindInfo {
	out := make([]KindInfo, len(kinds))
	for i, k := range kinds {
		k.Short = slices.Clone(k.Short)
		out[i] = k
	}
	return out
}

// LookupKind finds a kind by its name, its plural, its lower-case singular or a short name,
// case-insensitively.
func LookupKind(name string) (KindInfo, bool) {
	for _, k := range kinds {
		if strings.EqualFold(name, k.Kind) || strings.EqualFold(name, k.Plural) {
			return k, true
		}
		for _, s := range k.Short {
			if strings.EqualFold(name, s) {
				return k, true
			}
		}
	}
	return KindInfo{}, false
}

// SupportedKinds describes the supported apiVersion/kind pairs for error messages.
func SupportedKinds() string {
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k.APIVersion + " " + k.Kind
	}
	return strings.Join(parts, ", ")
}
