package translate

import (
	"cmp"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// SelectWorkloads returns the registered workloads that serve port of the Service key, in the
// snapshot's order (by ID): workloads of the Service's namespace whose effective labels match
// spec.selector, or, when the Service has no selector, whose Service is the Service's name;
// and that serve the port (a workload that lists no Ports serves them all). Proxyless and
// sidecar workloads are both returned; gateways, registered only for their certificates,
// never are.
func SelectWorkloads(snap *mesh.Snapshot, key mesh.NamespacedName, port int32) []*wire.Workload {
	svc := snap.Services[key]
	if svc == nil {
		return nil
	}
	var out []*wire.Workload
	for _, w := range snap.Workloads {
		if w.Gateway || w.Namespace != key.Namespace || !selects(svc, key.Name, w) || !servesPort(w, port) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// selects reports whether the Service named name selects w (namespaces already match).
func selects(svc *v1alpha1.Service, name string, w *wire.Workload) bool {
	if len(svc.Spec.Selector) == 0 {
		return w.Service == name
	}
	for k, v := range svc.Spec.Selector {
		if got, ok := effectiveLabel(w, k); !ok || got != v {
			return false
		}
	}
	return true
}

// effectiveLabel looks up one of w.EffectiveLabels() without building the map (selects runs
// for every workload, cluster and proxy): a label, else the implicit "app" (service name) or
// "version" label when w sets them.
func effectiveLabel(w *wire.Workload, key string) (string, bool) {
	if v, ok := w.Labels[key]; ok {
		return v, true
	}
	switch {
	case key == "app" && w.Service != "":
		return w.Service, true
	case key == "version" && w.Version != "":
		return w.Version, true
	}
	return "", false
}

// servesPort reports whether w serves a service port.
func servesPort(w *wire.Workload, port int32) bool {
	return len(w.Ports) == 0 || slices.Contains(w.Ports, port)
}

// endpointsOf returns the workloads a cluster's endpoints are for: proxyless workloads for a
// proxyless client, workloads behind a sidecar otherwise.
func (b *builder) endpointsOf(sc serviceCluster) []*wire.Workload {
	var out []*wire.Workload
	for _, w := range SelectWorkloads(b.snap, sc.key, sc.port.Port) {
		if w.Proxyless == b.proxyless {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(x, y *wire.Workload) int {
		return cmp.Or(cmp.Compare(x.Address, y.Address), cmp.Compare(x.InboundPort, y.InboundPort),
			cmp.Compare(x.ID, y.ID))
	})
	return out
}

// spiffeIDs are the sorted, distinct identities of workloads.
func (b *builder) spiffeIDs(workloads []*wire.Workload) []string {
	var ids []string
	for _, w := range workloads {
		id := w.SPIFFEID
		if id == "" {
			id = wire.SPIFFEID(b.trustDomain, w.Namespace, w.ServiceAccount)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// outboundCluster is the EDS cluster of a service port. For proxies it originates mutual TLS
// to the called workloads' proxies and accepts exactly their identities; for proxyless
// clients it is plaintext.
func (b *builder) outboundCluster(name string, sc serviceCluster, workloads []*wire.Workload) (*clusterv3.Cluster, error) {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       duration(b.connectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	protocol := appProtocol(sc.port)
	if b.proxyless {
		return c, nil
	}
	if isHTTP2(protocol) {
		opts, err := http2ProtocolOptions()
		if err != nil {
			return nil, err
		}
		c.TypedExtensionProtocolOptions = opts
	}
	if b.plaintextTo(sc) {
		return c, nil // DISABLE: the called proxies accept plaintext only
	}
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, id := range b.spiffeIDs(workloads) {
		sans = append(sans, uriSANExact(id))
	}
	if len(sans) == 0 {
		// No workload serves the service yet, so there is no endpoint to connect to. Never
		// leave the list empty (Envoy would then accept any identity the CA signed): accept
		// only identities of the service's namespace.
		sans = append(sans, uriSANPrefix("spiffe://"+b.trustDomain+"/ns/"+sc.key.Namespace+"/"))
	}
	ts, err := tlsTransportSocket(&tlsv3.UpstreamTlsContext{
		Sni:              wire.InboundSNI(sc.port.Port),
		CommonTlsContext: b.withTLSParams(commonTLS(upstreamALPN(protocol), sans)),
	})
	if err != nil {
		return nil, err
	}
	c.TransportSocket = ts
	b.usesTLS = true
	return c, nil
}

// upstreamALPN is the ALPN a calling proxy offers for a protocol.
func upstreamALPN(protocol string) []string {
	switch protocol {
	case v1alpha1.ProtocolTCP:
		return []string{wire.ALPNTCP}
	case v1alpha1.ProtocolHTTP2, v1alpha1.ProtocolGRPC:
		return []string{wire.ALPNHTTP2}
	default:
		return []string{wire.ALPNHTTP11}
	}
}

// loadAssignment lists the workloads' addresses: Address and the inbound port of the service
// port (its dedicated inbound port, else the shared one). For a proxyless gRPC client they
// sit in one (empty) locality of weight 1: gRPC refuses a locality without one and ignores
// one without a weight.
func (b *builder) loadAssignment(cluster string, port int32, workloads []*wire.Workload) *endpointv3.ClusterLoadAssignment {
	la := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	if len(workloads) == 0 {
		return la
	}
	loc := &endpointv3.LocalityLbEndpoints{}
	if b.proxyless {
		loc.Locality, loc.LoadBalancingWeight = &corev3.Locality{}, wrapperspb.UInt32(1)
	}
	for _, w := range workloads {
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(w.Address, w.InboundPortFor(port)),
			}},
		})
	}
	la.Endpoints = []*endpointv3.LocalityLbEndpoints{loc}
	return la
}

// staticCluster is a cluster with one fixed endpoint (the local application).
func (b *builder) staticCluster(name, host string, port int32, protocol string) (*clusterv3.Cluster, error) {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       duration(b.connectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: socketAddress(host, port),
					}},
				}},
			}},
		},
	}
	if isHTTP2(protocol) {
		opts, err := http2ProtocolOptions()
		if err != nil {
			return nil, err
		}
		c.TypedExtensionProtocolOptions = opts
	}
	return c, nil
}

// rootCASecret is the trust bundle every proxy validates its peers with.
func rootCASecret(bundle []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: wire.SecretRootCA,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: bundle}},
		}},
	}
}
