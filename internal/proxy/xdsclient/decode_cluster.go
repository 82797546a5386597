package xdsclient

import (
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// defaultConnectTimeout is Envoy's cluster connect_timeout when unset.
const defaultConnectTimeout = 5 * time.Second

// clusterResource is a decoded Cluster and what it refers to.
type clusterResource struct {
	// cluster is complete for STATIC clusters; an EDS cluster gets its endpoints from the
	// ClusterLoadAssignment named edsName when a config is built.
	cluster *config.Cluster
	// edsName is the ClusterLoadAssignment of an EDS cluster, empty for STATIC ones.
	edsName string
	// usesRootCA is set when the cluster verifies its peers against the ROOTCA secret.
	usesRootCA bool
}

// decodeCluster validates a Cluster of the documented subset (docs/xds.md) and converts it.
func decodeCluster(c *clusterv3.Cluster) (*clusterResource, error) {
	err := onlyFields(c, "", "name", "type", "eds_cluster_config", "load_assignment", "lb_policy",
		"connect_timeout", "transport_socket", "typed_extension_protocol_options",
		"http2_protocol_options", "metadata", "alt_stat_name", "dns_lookup_family")
	if err != nil {
		return nil, err
	}
	out := &clusterResource{cluster: &config.Cluster{Name: c.GetName(), ConnectTimeout: defaultConnectTimeout}}
	switch c.GetType() {
	case clusterv3.Cluster_STATIC:
		if c.GetEdsClusterConfig() != nil {
			return nil, path("eds_cluster_config").errorf("only EDS clusters take an eds_cluster_config")
		}
		if c.GetLoadAssignment() == nil {
			return nil, path("load_assignment").errorf("a STATIC cluster requires a load_assignment")
		}
		out.cluster.Endpoints, err = decodeEndpoints(c.GetLoadAssignment(), "load_assignment")
		if err != nil {
			return nil, err
		}
	case clusterv3.Cluster_EDS:
		if c.GetLoadAssignment() != nil {
			return nil, path("load_assignment").errorf("an EDS cluster takes its endpoints from EDS, not load_assignment")
		}
		ep := path("eds_cluster_config")
		eds := c.GetEdsClusterConfig()
		if eds == nil {
			return nil, ep.errorf("an EDS cluster requires an eds_cluster_config")
		}
		if err := onlyFields(eds, ep, "eds_config", "service_name"); err != nil {
			return nil, err
		}
		if err := checkADS(eds.GetEdsConfig(), ep.field("eds_config")); err != nil {
			return nil, err
		}
		out.edsName = eds.GetServiceName()
		if out.edsName == "" {
			out.edsName = c.GetName()
		}
	default:
		return nil, path("type").errorf("unsupported discovery type %s (only STATIC and EDS)", c.GetType())
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		return nil, path("lb_policy").errorf("unsupported load balancing policy %s (only ROUND_ROBIN)", c.GetLbPolicy())
	}
	if t := c.GetConnectTimeout(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, path("connect_timeout").errorf("invalid duration: %w", err)
		}
		if t.AsDuration() <= 0 {
			return nil, path("connect_timeout").errorf("connect timeout %s is not positive", t.AsDuration())
		}
		out.cluster.ConnectTimeout = t.AsDuration()
	}
	if ts := c.GetTransportSocket(); ts != nil {
		out.cluster.TLS, err = decodeUpstreamTLS(ts, "transport_socket")
		if err != nil {
			return nil, err
		}
		out.usesRootCA = true
	}
	out.cluster.Protocol, err = decodeClusterProtocol(c)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeClusterProtocol tells HTTP/2 from HTTP/1.1: HTTP/2 when the upstream HTTP protocol
// options say so explicitly (or the deprecated http2_protocol_options is set). A cluster alone
// cannot say "TCP"; a config marks the clusters only TCP proxies reach (see build).
func decodeClusterProtocol(c *clusterv3.Cluster) (config.Protocol, error) {
	proto := config.HTTP1
	if c.GetHttp2ProtocolOptions() != nil {
		proto = config.HTTP2
	}
	opts := c.GetTypedExtensionProtocolOptions()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := path("typed_extension_protocol_options").key(k)
		if k != httpOptionsName {
			return 0, p.errorf("unsupported protocol options (only %q)", httpOptionsName)
		}
		hpo := &httpv3.HttpProtocolOptions{}
		if !opts[k].MessageIs(hpo) {
			return 0, p.errorf("expected HttpProtocolOptions, got %q", opts[k].GetTypeUrl())
		}
		if err := opts[k].UnmarshalTo(hpo); err != nil {
			return 0, p.errorf("decoding HttpProtocolOptions: %w", err)
		}
		if err := onlyFields(hpo, p, "explicit_http_config"); err != nil {
			return 0, err
		}
		explicit := hpo.GetExplicitHttpConfig()
		if explicit == nil {
			continue
		}
		ep := p.field("explicit_http_config")
		if err := onlyFields(explicit, ep, "http_protocol_options", "http2_protocol_options"); err != nil {
			return 0, err
		}
		switch {
		case explicit.GetHttp2ProtocolOptions() != nil:
			proto = config.HTTP2
		case explicit.GetHttpProtocolOptions() != nil:
			if c.GetHttp2ProtocolOptions() != nil {
				return 0, ep.errorf("HTTP/1.1 contradicts the cluster's http2_protocol_options")
			}
			proto = config.HTTP1
		}
	}
	return proto, nil
}

// decodeEndpoints reads the endpoints of a ClusterLoadAssignment, leaving out those reported
// UNHEALTHY, DRAINING or TIMEOUT (as Envoy does for load balancing).
func decodeEndpoints(cla *endpointv3.ClusterLoadAssignment, p path) ([]config.Endpoint, error) {
	if err := onlyFields(cla, p, "cluster_name", "endpoints"); err != nil {
		return nil, err
	}
	var out []config.Endpoint
	for i, lle := range cla.GetEndpoints() {
		lp := p.field("endpoints").index(i)
		// A locality's load_balancing_weight only counts with locality-weighted load
		// balancing, which no cluster the proxy accepts has (as in Envoy, it is ignored).
		if err := onlyFields(lle, lp, "locality", "lb_endpoints", "metadata", "load_balancing_weight"); err != nil {
			return nil, err
		}
		for j, lbe := range lle.GetLbEndpoints() {
			ep := lp.field("lb_endpoints").index(j)
			if err := onlyFields(lbe, ep, "endpoint", "health_status", "metadata", "load_balancing_weight"); err != nil {
				return nil, err
			}
			if w := lbe.GetLoadBalancingWeight(); w != nil && w.GetValue() != 1 {
				return nil, ep.field("load_balancing_weight").errorf("weighted endpoints are not supported (weight %d)", w.GetValue())
			}
			e := lbe.GetEndpoint()
			if e == nil {
				return nil, ep.field("endpoint").errorf("an endpoint is required")
			}
			if err := onlyFields(e, ep.field("endpoint"), "address", "hostname", "health_check_config"); err != nil {
				return nil, err
			}
			addr, err := socketAddress(e.GetAddress(), ep.field("endpoint").field("address"), false)
			if err != nil {
				return nil, err
			}
			switch lbe.GetHealthStatus() {
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
				continue
			}
			out = append(out, config.Endpoint{Address: addr})
		}
	}
	return out, nil
}
