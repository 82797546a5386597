// Package translate turns a mesh snapshot and the identity of one proxy into that proxy's Envoy
// xDS v3 resources, as docs/xds.md specifies. Everything here is a pure function of its inputs:
// the same snapshot and proxy always give the same resources, in the same order.
package translate

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// DefaultConnectTimeout is the upstream connect timeout when the Mesh does not set one.
const DefaultConnectTimeout = 5 * time.Second

// Proxy is the proxy resources are computed for: its xDS node ID and the metadata it sent.
//
// For a proxyless gRPC client, Meta.Upstreams lists the targets ("<svc>.<ns>:<port>") it
// subscribed to; the xDS server fills them in from the client's Listener subscriptions (see
// ProxylessTargets for a wildcard subscription).
type Proxy struct {
	ID   string
	Meta wire.ProxyMeta
}

// Resources are the xDS resources of one proxy, each list sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Translate computes the resources of proxy p from snap. The error names what in the snapshot
// or in the proxy's metadata could not be translated; resources that a proxy asks for but the
// snapshot does not have (a Service or Gateway not applied yet) are simply absent.
func Translate(snap *mesh.Snapshot, p Proxy) (*Resources, error) {
	if snap == nil {
		return nil, fmt.Errorf("translating for proxy %q: no snapshot", p.ID)
	}
	b, err := newBuilder(snap, p)
	if err != nil {
		return nil, fmt.Errorf("translating for proxy %q: %w", p.ID, err)
	}
	switch p.Meta.Mode {
	case wire.ModeSidecar:
		err = b.sidecar()
	case wire.ModeGateway:
		err = b.gateway()
	case wire.ModeProxyless, "":
		err = b.proxylessListeners()
	default:
		err = fmt.Errorf("unknown mode %q", p.Meta.Mode)
	}
	if err != nil {
		return nil, fmt.Errorf("translating for proxy %q: %w", p.ID, err)
	}
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("translating for proxy %q: %w", p.ID, err)
	}
	return &b.res, nil
}

// ProxylessTargets lists every target a proxyless gRPC client may ask for: each port of each
// Service whose appProtocol is not tcp, sorted. The xDS server uses it for a client that
// subscribes to all Listeners (a wildcard subscription).
func ProxylessTargets(snap *mesh.Snapshot) []wire.Upstream {
	if snap == nil {
		return nil
	}
	var out []wire.Upstream
	for key, svc := range snap.Services {
		for _, port := range svc.Spec.Ports {
			if appProtocol(port) == v1alpha1.ProtocolTCP {
				continue
			}
			out = append(out, wire.Upstream{Service: key.Name, Namespace: key.Namespace, Port: port.Port})
		}
	}
	slices.SortFunc(out, func(a, b wire.Upstream) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Port, b.Port))
	})
	return out
}

// builder accumulates the resources of one proxy.
type builder struct {
	snap           *mesh.Snapshot
	proxy          Proxy
	trustDomain    string
	connectTimeout time.Duration
	// proxyless: clusters without TLS reaching proxyless workloads only.
	proxyless bool
	// clusters are the outbound clusters the proxy's listeners and routes reach, by name.
	clusters map[string]serviceCluster
	// usesTLS: some listener or cluster refers to the ROOTCA secret.
	usesTLS bool
	res     Resources
}

// serviceCluster is an outbound cluster: one port of one Service.
type serviceCluster struct {
	key  mesh.NamespacedName
	svc  *v1alpha1.Service
	port v1alpha1.ServicePort
}

func newBuilder(snap *mesh.Snapshot, p Proxy) (*builder, error) {
	b := &builder{
		snap:           snap,
		proxy:          p,
		trustDomain:    v1alpha1.DefaultTrustDomain,
		connectTimeout: DefaultConnectTimeout,
		proxyless:      p.Meta.Mode == wire.ModeProxyless || p.Meta.Mode == "",
		clusters:       map[string]serviceCluster{},
	}
	if m := snap.Mesh; m != nil {
		if m.Spec.TrustDomain != "" {
			b.trustDomain = m.Spec.TrustDomain
		}
		if d := m.Spec.Defaults; d != nil && d.ConnectTimeout != "" {
			t, err := time.ParseDuration(d.ConnectTimeout)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("mesh spec.defaults.connectTimeout %q is not a positive duration", d.ConnectTimeout)
			}
			b.connectTimeout = t
		}
	}
	return b, nil
}

// service returns the Service ns/name, or nil.
func (b *builder) service(namespace, name string) *v1alpha1.Service {
	return b.snap.Services[mesh.NamespacedName{Namespace: namespace, Name: name}]
}

// servicePort returns the port of Service ns/name numbered port.
func (b *builder) servicePort(namespace, name string, port int32) (*v1alpha1.Service, v1alpha1.ServicePort, bool) {
	svc := b.service(namespace, name)
	if svc == nil {
		return nil, v1alpha1.ServicePort{}, false
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return svc, p, true
		}
	}
	return svc, v1alpha1.ServicePort{}, false
}

// useCluster records that the proxy reaches the outbound cluster of a service port and
// returns its name.
func (b *builder) useCluster(namespace, name string, svc *v1alpha1.Service, port v1alpha1.ServicePort) string {
	cname := wire.OutboundClusterName(name, namespace, port.Port)
	b.clusters[cname] = serviceCluster{key: mesh.NamespacedName{Namespace: namespace, Name: name}, svc: svc, port: port}
	return cname
}

// finish builds the outbound clusters, their endpoints and the trust bundle secret, then sorts
// everything by name.
func (b *builder) finish() error {
	names := make([]string, 0, len(b.clusters))
	for name := range b.clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sc := b.clusters[name]
		workloads := b.endpointsOf(sc)
		c, err := b.outboundCluster(name, sc, workloads)
		if err != nil {
			return err
		}
		b.res.Clusters = append(b.res.Clusters, c)
		b.res.Endpoints = append(b.res.Endpoints, b.loadAssignment(name, sc.port.Port, workloads))
	}
	if b.usesTLS && len(b.snap.TrustBundle) > 0 {
		b.res.Secrets = append(b.res.Secrets, rootCASecret(b.snap.TrustBundle))
	}
	slices.SortFunc(b.res.Listeners, func(x, y *listenerv3.Listener) int { return cmp.Compare(x.GetName(), y.GetName()) })
	slices.SortFunc(b.res.Routes, func(x, y *routev3.RouteConfiguration) int { return cmp.Compare(x.GetName(), y.GetName()) })
	slices.SortFunc(b.res.Clusters, func(x, y *clusterv3.Cluster) int { return cmp.Compare(x.GetName(), y.GetName()) })
	slices.SortFunc(b.res.Endpoints, func(x, y *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(x.GetClusterName(), y.GetClusterName())
	})
	return nil
}

// appProtocol returns the port's protocol, defaulting to http.
func appProtocol(p v1alpha1.ServicePort) string {
	if p.AppProtocol == "" {
		return v1alpha1.ProtocolHTTP
	}
	return p.AppProtocol
}

// isHTTP2 reports whether a protocol is spoken over HTTP/2.
func isHTTP2(protocol string) bool {
	return protocol == v1alpha1.ProtocolHTTP2 || protocol == v1alpha1.ProtocolGRPC
}
