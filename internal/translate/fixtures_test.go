package translate

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// Builders of test inputs. They keep the cases short and readable.

const testBundle = "-----BEGIN CERTIFICATE-----\nTUVTSC1ST09U\n-----END CERTIFICATE-----\n"

// baseTime is the creation time of the oldest route; later routes add minutes.
var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSnapshot() *mesh.Snapshot {
	return &mesh.Snapshot{
		Mesh: &v1alpha1.Mesh{
			Metadata: v1alpha1.ObjectMeta{Name: "default"},
			Spec:     v1alpha1.MeshSpec{TrustDomain: "weft.local"},
		},
		Services:    map[mesh.NamespacedName]*v1alpha1.Service{},
		TrustBundle: []byte(testBundle),
	}
}

// port builds a service port "name:number/protocol".
func port(name string, number int32, protocol string) v1alpha1.ServicePort {
	return v1alpha1.ServicePort{Name: name, Port: number, AppProtocol: protocol}
}

func addService(s *mesh.Snapshot, ns, name string, selector map[string]string, ports ...v1alpha1.ServicePort) {
	s.Services[mesh.NamespacedName{Namespace: ns, Name: name}] = &v1alpha1.Service{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindService},
		Metadata: v1alpha1.ObjectMeta{Name: name, Namespace: ns},
		Spec:     v1alpha1.ServiceSpec{Ports: ports, Selector: selector},
	}
}

// workload registers a sidecar workload of service in ns at addr:15006 with service account
// = service.
func workload(id, ns, service, addr string) *wire.Workload {
	return &wire.Workload{
		ID: id, Service: service, Namespace: ns, ServiceAccount: service,
		Address: addr, InboundPort: 15006,
	}
}

func addWorkloads(s *mesh.Snapshot, ws ...*wire.Workload) {
	s.Workloads = append(s.Workloads, ws...)
}

func ptr[T any](v T) *T { return &v }

// serviceParent is a parentRef to a Service port (port 0: all ports).
func serviceParent(name string, p int32) gatewayv1.ParentReference {
	ref := gatewayv1.ParentReference{
		Group: ptr(gatewayv1.Group("")),
		Kind:  ptr(gatewayv1.Kind("Service")),
		Name:  gatewayv1.ObjectName(name),
	}
	if p != 0 {
		ref.Port = ptr(p)
	}
	return ref
}

// gatewayParent is a parentRef to a Gateway, optionally to one listener by name.
func gatewayParent(name, section string) gatewayv1.ParentReference {
	ref := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(name)}
	if section != "" {
		ref.SectionName = ptr(gatewayv1.SectionName(section))
	}
	return ref
}

// backend is a backendRef to a Service; port 0 uses the parent's port; weight < 0 leaves the
// weight unset.
func backend(name string, p int32, weight int32) gatewayv1.HTTPBackendRef {
	ref := gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name)},
	}}
	if p != 0 {
		ref.Port = ptr(p)
	}
	if weight >= 0 {
		ref.Weight = ptr(weight)
	}
	return ref
}

func pathMatch(typ gatewayv1.PathMatchType, v string) *gatewayv1.HTTPPathMatch {
	return &gatewayv1.HTTPPathMatch{Type: ptr(typ), Value: ptr(v)}
}

func headerMatch(name, value string) gatewayv1.HTTPHeaderMatch {
	return gatewayv1.HTTPHeaderMatch{Name: gatewayv1.HTTPHeaderName(name), Value: value}
}

// httpRoute builds a route created age minutes after baseTime.
func httpRoute(ns, name string, age int, parents []gatewayv1.ParentReference, rules ...gatewayv1.HTTPRouteRule) *gatewayv1.HTTPRoute {
	return &gatewayv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			CreationTimestamp: metav1.NewTime(baseTime.Add(time.Duration(age) * time.Minute)),
		},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parents},
			Rules:           rules,
		},
	}
}

func rule(matches []gatewayv1.HTTPRouteMatch, backends ...gatewayv1.HTTPBackendRef) gatewayv1.HTTPRouteRule {
	return gatewayv1.HTTPRouteRule{Matches: matches, BackendRefs: backends}
}

func sidecarMeta(id, ns, service string, inbound int32, apps []wire.AppPort, ups ...wire.Upstream) Proxy {
	return Proxy{ID: id, Meta: wire.ProxyMeta{
		Mode: wire.ModeSidecar, WorkloadID: id, Service: service, Namespace: ns, ServiceAccount: service,
		Address: "10.0.0.1", InboundPort: inbound, Apps: apps, Upstreams: ups,
	}}
}

func metaOf(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}
