package xdsclient

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// listenerResource is a decoded Listener and what it refers to.
type listenerResource struct {
	listener *config.Listener
	// routeNames are the RDS route configurations its HTTP connection managers use.
	routeNames []string
	// tcpClusters are the clusters its TCP proxies forward to.
	tcpClusters []string
	// usesRootCA is set when a filter chain verifies peers against the ROOTCA secret.
	usesRootCA bool
}

// decodeListener validates a Listener of the documented subset (docs/xds.md) and converts
// it. Errors name the field, relative to the listener.
func decodeListener(l *listenerv3.Listener) (*listenerResource, error) {
	if l.GetApiListener() != nil {
		return nil, path("api_listener").errorf("API listeners are for proxyless gRPC clients; weft-proxy does not serve them")
	}
	err := onlyFields(l, "", "name", "address", "filter_chains", "listener_filters",
		"listener_filters_timeout", "continue_on_listener_filters_timeout", "traffic_direction",
		"stat_prefix", "metadata")
	if err != nil {
		return nil, err
	}
	addr, err := socketAddress(l.GetAddress(), "address", true)
	if err != nil {
		return nil, err
	}
	for i, lf := range l.GetListenerFilters() {
		if err := checkListenerFilter(lf, path("listener_filters").index(i)); err != nil {
			return nil, err
		}
	}
	if len(l.GetFilterChains()) == 0 {
		return nil, path("filter_chains").errorf("at least one filter chain is required")
	}
	out := &listenerResource{listener: &config.Listener{Name: l.GetName(), Address: addr}}
	var catchAlls []*config.FilterChain
	type named struct {
		index     int
		transport string
	}
	seen := map[string][]named{}
	for i, fc := range l.GetFilterChains() {
		p := path("filter_chains").index(i)
		chain, err := out.decodeFilterChain(fc, p)
		if err != nil {
			return nil, err
		}
		if len(chain.ServerNames) == 0 {
			for _, c := range catchAlls {
				if transportsOverlap(c.TransportProtocol, chain.TransportProtocol) {
					return nil, p.field("filter_chain_match").errorf("more than one filter chain matches every connection")
				}
			}
			catchAlls = append(catchAlls, chain)
			continue
		}
		for _, sn := range chain.ServerNames {
			for _, prev := range seen[sn] {
				if transportsOverlap(prev.transport, chain.TransportProtocol) {
					return nil, p.field("filter_chain_match").field("server_names").errorf(
						"server name %q is already matched by filter_chains[%d]", sn, prev.index)
				}
			}
			seen[sn] = append(seen[sn], named{i, chain.TransportProtocol})
		}
		out.listener.FilterChains = append(out.listener.FilterChains, chain)
	}
	// The data plane takes the first chain that fits; Envoy prefers a chain naming the server
	// over the catch-all ones, so the catch-all ones go last.
	out.listener.FilterChains = append(out.listener.FilterChains, catchAlls...)
	if out.listener.Detection, err = decodeDetection(l, out.listener.FilterChains); err != nil {
		return nil, err
	}
	return out, nil
}

// checkListenerFilter accepts the TLS inspector only (the data plane reads the SNI itself).
func checkListenerFilter(lf *listenerv3.ListenerFilter, p path) error {
	if err := onlyFields(lf, p, "name", "typed_config"); err != nil {
		return err
	}
	if tc := lf.GetTypedConfig(); tc != nil {
		if !tc.MessageIs(&tlsinspectorv3.TlsInspector{}) {
			return p.errorf("unsupported listener filter %q", filterLabel(lf.GetName(), tc))
		}
		return nil
	}
	if lf.GetName() != tlsInspector {
		return p.errorf("unsupported listener filter %q", lf.GetName())
	}
	return nil
}

func (out *listenerResource) decodeFilterChain(fc *listenerv3.FilterChain, p path) (*config.FilterChain, error) {
	err := onlyFields(fc, p, "filter_chain_match", "filters", "transport_socket", "name", "metadata",
		"transport_socket_connect_timeout")
	if err != nil {
		return nil, err
	}
	chain := &config.FilterChain{Name: fc.GetName()}
	if ts := fc.GetTransportSocket(); ts != nil {
		var rootCA bool
		chain.TLS, rootCA, err = decodeDownstreamTLS(ts, p.field("transport_socket"))
		if err != nil {
			return nil, err
		}
		out.usesRootCA = out.usesRootCA || rootCA
	}
	if m := fc.GetFilterChainMatch(); m != nil {
		mp := p.field("filter_chain_match")
		if err := onlyFields(m, mp, "server_names", "transport_protocol"); err != nil {
			return nil, err
		}
		if err := decodeTransportProtocol(m.GetTransportProtocol(), chain, mp.field("transport_protocol")); err != nil {
			return nil, err
		}
		if chain.TLS == nil && len(m.GetServerNames()) > 0 {
			return nil, mp.field("server_names").errorf("server names need a TLS filter chain")
		}
		for i, sn := range m.GetServerNames() {
			if sn == "" {
				return nil, mp.field("server_names").index(i).errorf("empty server name")
			}
		}
		chain.ServerNames = m.GetServerNames()
	}
	fp := p.field("filters")
	if len(fc.GetFilters()) == 0 {
		return nil, fp.errorf("one network filter is required (%s or %s)", hcmFilterName, tcpFilterName)
	}
	var rbac networkRBAC
	for i, f := range fc.GetFilters() {
		if taken, err := rbac.take(f, fp.index(i), chain); taken || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := out.decodeNetworkFilter(f, fp.index(i), chain); err != nil {
			return nil, err
		}
	}
	if err := rbac.attach(chain); err != nil {
		return nil, err
	}
	return chain, nil
}

// decodeNetworkFilter decodes one network filter into chain; a chain takes exactly one.
func (out *listenerResource) decodeNetworkFilter(f *listenerv3.Filter, p path, chain *config.FilterChain) error {
	if err := onlyFields(f, p, "name", "typed_config"); err != nil {
		return err
	}
	tc := f.GetTypedConfig()
	hcm, tcp := &hcmv3.HttpConnectionManager{}, &tcpproxyv3.TcpProxy{}
	switch {
	case tc.MessageIs(hcm):
		if err := tc.UnmarshalTo(hcm); err != nil {
			return p.field("typed_config").errorf("decoding HttpConnectionManager: %w", err)
		}
	case tc.MessageIs(tcp):
		if err := tc.UnmarshalTo(tcp); err != nil {
			return p.field("typed_config").errorf("decoding TcpProxy: %w", err)
		}
	case tc == nil && (f.GetName() == hcmFilterName || f.GetName() == tcpFilterName):
		return p.field("typed_config").errorf("typed_config is required")
	default:
		return p.errorf("unsupported filter %q", filterLabel(f.GetName(), tc))
	}
	if chain.HTTP != nil || chain.TCP != nil {
		return p.errorf("a filter chain takes exactly one network filter (%s or %s)", hcmFilterName, tcpFilterName)
	}
	p = p.field("typed_config")
	if tc.MessageIs(tcp) {
		if err := onlyFields(tcp, p, "stat_prefix", "cluster"); err != nil {
			return err
		}
		if tcp.GetCluster() == "" {
			return p.field("cluster").errorf("a cluster is required")
		}
		chain.TCP = &config.TCPProxy{StatPrefix: tcp.GetStatPrefix(), Cluster: tcp.GetCluster()}
		out.tcpClusters = append(out.tcpClusters, tcp.GetCluster())
		return nil
	}
	m, err := out.decodeHCM(hcm, p)
	if err != nil {
		return err
	}
	chain.HTTP = m
	return nil
}

func (out *listenerResource) decodeHCM(h *hcmv3.HttpConnectionManager, p path) (*config.HTTPConnectionManager, error) {
	err := onlyFields(h, p, "stat_prefix", "codec_type", "rds", "route_config", "http_filters",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action")
	if err != nil {
		return nil, err
	}
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1, hcmv3.HttpConnectionManager_HTTP2:
	default:
		return nil, p.field("codec_type").errorf("unsupported codec %s", h.GetCodecType())
	}
	m := &config.HTTPConnectionManager{StatPrefix: h.GetStatPrefix()}
	switch {
	case h.GetRds() != nil:
		rp := p.field("rds")
		rds := h.GetRds()
		if err := onlyFields(rds, rp, "config_source", "route_config_name"); err != nil {
			return nil, err
		}
		if err := checkADS(rds.GetConfigSource(), rp.field("config_source")); err != nil {
			return nil, err
		}
		if rds.GetRouteConfigName() == "" {
			return nil, rp.field("route_config_name").errorf("a route configuration name is required")
		}
		m.RouteName = rds.GetRouteConfigName()
		out.routeNames = append(out.routeNames, m.RouteName)
	case h.GetRouteConfig() != nil:
		rt, err := decodeRouteTable(h.GetRouteConfig(), p.field("route_config"))
		if err != nil {
			return nil, err
		}
		m.Inline = rt
	default:
		return nil, p.errorf("rds or route_config is required")
	}
	if m.Authz, err = decodeHTTPFilters(h, p); err != nil {
		return nil, err
	}
	return m, nil
}

// checkRouter accepts the router HTTP filter, the only one the proxy runs from xDS.
func checkRouter(f *hcmv3.HttpFilter, p path) error {
	if err := onlyFields(f, p, "name", "typed_config"); err != nil {
		return err
	}
	tc := f.GetTypedConfig()
	if tc == nil {
		if f.GetName() != routerName {
			return p.errorf("unsupported HTTP filter %q", f.GetName())
		}
		return nil
	}
	r := &routerv3.Router{}
	if !tc.MessageIs(r) {
		return p.errorf("unsupported HTTP filter %q", filterLabel(f.GetName(), tc))
	}
	if err := tc.UnmarshalTo(r); err != nil {
		return p.field("typed_config").errorf("decoding Router: %w", err)
	}
	return onlyFields(r, p.field("typed_config"), "dynamic_stats", "start_child_span", "suppress_envoy_headers")
}

// filterLabel names a filter in an error: its name, else the type of its config.
func filterLabel(name string, tc *anypb.Any) string {
	if name != "" {
		return name
	}
	return tc.GetTypeUrl()
}
