package xdsclient

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

var webUpstream = wire.Upstream{Service: "web", Namespace: "default", Port: 80, LocalPort: 18080}

func TestDecodeListenerAccepts(t *testing.T) {
	downstream := &config.DownstreamTLS{
		RequireClientCert:  true,
		ALPN:               []string{"h2", "http/1.1", "weft-tcp"},
		AllowedSANPrefixes: []string{trustDomainPrefix},
	}
	tests := []struct {
		name   string
		in     *listenerv3.Listener
		want   *config.Listener
		routes []string
		tcp    []string
		rootCA bool
	}{
		{
			name:   "inbound",
			in:     inboundListener(t, "10.0.0.1", 15006),
			want:   wantInboundListener("10.0.0.1:15006"),
			tcp:    []string{"inbound|9000"},
			rootCA: true,
		},
		{
			name:   "outbound HTTP with RDS",
			in:     outboundHTTPListener(t, webUpstream),
			want:   wantHTTPListener(webUpstream),
			routes: []string{"web.default:80"},
		},
		{
			name: "outbound TCP, IPv6",
			in: func() *listenerv3.Listener {
				l := outboundTCPListener(t, wire.Upstream{Service: "db", Namespace: "default", Port: 5432, LocalPort: 15432})
				l.Address = sockAddr("::1", 15432)
				return l
			}(),
			want: &config.Listener{
				Name:    "outbound|db.default:5432",
				Address: "[::1]:15432",
				FilterChains: []*config.FilterChain{{
					TCP: &config.TCPProxy{StatPrefix: "outbound_db.default:5432", Cluster: "outbound|5432||db.default"},
				}},
			},
			tcp: []string{"outbound|5432||db.default"},
		},
		{
			name: "catch-all chain goes last",
			in: func() *listenerv3.Listener {
				l := inboundListener(t, "10.0.0.1", 15006)
				l.FilterChains[0].FilterChainMatch = nil
				return l
			}(),
			want: &config.Listener{
				Name:    "inbound",
				Address: "10.0.0.1:15006",
				FilterChains: []*config.FilterChain{
					{
						Name:        "p9000",
						ServerNames: []string{"p9000.inbound.weft"},
						TLS:         downstream,
						TCP:         &config.TCPProxy{StatPrefix: "inbound_9000", Cluster: "inbound|9000"},
					},
					{
						Name: "p8080",
						TLS:  downstream,
						HTTP: &config.HTTPConnectionManager{
							StatPrefix: "inbound_8080",
							Inline: &config.RouteTable{Name: "inbound|8080", VirtualHosts: []*config.VirtualHost{{
								Name:    "inbound",
								Domains: []string{"*"},
								Routes: []*config.Route{{
									Name:        "default",
									Match:       config.RouteMatch{Prefix: "/"},
									Clusters:    []config.WeightedCluster{{Name: "inbound|8080", Weight: 1}},
									TotalWeight: 1,
								}},
							}}},
						},
					},
				},
			},
			tcp:    []string{"inbound|9000"},
			rootCA: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeResource(TypeListener, tt.in.GetName(), mustAny(t, tt.in))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			lr := got.(*listenerResource)
			if diff := cmp.Diff(tt.want, lr.listener, cmpRegexp); diff != "" {
				t.Errorf("listener (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.routes, lr.routeNames); diff != "" {
				t.Errorf("route names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.tcp, lr.tcpClusters); diff != "" {
				t.Errorf("TCP clusters (-want +got):\n%s", diff)
			}
			if lr.usesRootCA != tt.rootCA {
				t.Errorf("usesRootCA = %v, want %v", lr.usesRootCA, tt.rootCA)
			}
		})
	}
}

// hcmOf returns the HttpConnectionManager of chain i of l, for mutation; put writes it back.
func hcmOf(t *testing.T, l *listenerv3.Listener, i int) (*hcmv3.HttpConnectionManager, func()) {
	t.Helper()
	f := l.FilterChains[i].Filters[0]
	h := &hcmv3.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	return h, func() { f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)} }
}

// tlsOf returns the DownstreamTlsContext of chain i of l, for mutation; put writes it back.
func tlsOf(t *testing.T, l *listenerv3.Listener, i int) (*tlsv3.DownstreamTlsContext, func()) {
	t.Helper()
	ts := l.FilterChains[i].TransportSocket
	c := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(c); err != nil {
		t.Fatal(err)
	}
	return c, func() { ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, c)} }
}

func TestDecodeListenerRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, inbound, outbound *listenerv3.Listener) *listenerv3.Listener
		want   string
	}{
		{
			name: "unsupported network filter",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.FilterChains[0].Filters[0] = &listenerv3.Filter{
					Name:       "envoy.filters.network.redis_proxy",
					ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: rawAny("envoy.extensions.filters.network.redis_proxy.v3.RedisProxy")},
				}
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0]: unsupported filter "envoy.filters.network.redis_proxy"`,
		},
		{
			name: "two network filters",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.FilterChains[0].Filters = append(out.FilterChains[0].Filters, out.FilterChains[0].Filters[0])
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[1]: a filter chain takes exactly one network filter (envoy.filters.network.http_connection_manager or envoy.filters.network.tcp_proxy)`,
		},
		{
			name: "no network filter",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.FilterChains[0].Filters = nil
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters: one network filter is required (envoy.filters.network.http_connection_manager or envoy.filters.network.tcp_proxy)`,
		},
		{
			name: "filter without typed_config",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.FilterChains[0].Filters[0].ConfigType = nil
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config: typed_config is required`,
		},
		{
			name: "HTTP filter other than the router",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.HttpFilters[0] = &hcmv3.HttpFilter{Name: "envoy.filters.http.cors", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: rawAny("envoy.extensions.filters.http.cors.v3.Cors")}}
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config.http_filters[0]: unsupported HTTP filter "envoy.filters.http.cors"`,
		},
		{
			name: "two routers",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.HttpFilters = append(h.HttpFilters, h.HttpFilters[0])
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config.http_filters[0]: the router must be the last HTTP filter`,
		},
		{
			name: "HTTP/3 codec",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.CodecType = hcmv3.HttpConnectionManager_HTTP3
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config.codec_type: unsupported codec HTTP3`,
		},
		{
			name: "RDS not over ADS",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.GetRds().ConfigSource = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Path{Path: "/etc/routes.yaml"}}
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config.rds.config_source: unsupported field "path"`,
		},
		{
			name: "scoped routes",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.RouteSpecifier = &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{Name: "x"}}
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config: unsupported field "scoped_routes"`,
		},
		{
			name: "HCM option the proxy cannot honour",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				h, put := hcmOf(t, out, 0)
				h.UseRemoteAddress = wrapperspb.Bool(true)
				put()
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains[0].filters[0].typed_config: unsupported field "use_remote_address"`,
		},
		{
			name: "TCP proxy over weighted clusters",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				tl := outboundTCPListener(t, wire.Upstream{Service: "db", Namespace: "default", Port: 5432, LocalPort: 15432})
				tl.FilterChains[0].Filters[0] = networkFilter(t, tcpFilterName, &tcpproxyv3.TcpProxy{
					StatPrefix: "db",
					ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{
						Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{{Name: "a", Weight: 1}},
					}},
				})
				return tl
			},
			want: `listener "outbound|db.default:5432": filter_chains[0].filters[0].typed_config: unsupported field "weighted_clusters"`,
		},
		{
			name: "filter chain match on destination port",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.FilterChains[1].FilterChainMatch.DestinationPort = wrapperspb.UInt32(9000)
				return in
			},
			want: `listener "inbound": filter_chains[1].filter_chain_match: unsupported field "destination_port"`,
		},
		{
			name: "duplicate server name",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.FilterChains[1].FilterChainMatch.ServerNames = []string{wire.InboundSNI(8080)}
				return in
			},
			want: `listener "inbound": filter_chains[1].filter_chain_match.server_names: server name "p8080.inbound.weft" is already matched by filter_chains[0]`,
		},
		{
			name: "two catch-all chains",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.FilterChains[0].FilterChainMatch = nil
				in.FilterChains[1].FilterChainMatch = nil
				return in
			},
			want: `listener "inbound": filter_chains[1].filter_chain_match: more than one filter chain matches every connection`,
		},
		{
			name: "transport protocol raw_buffer on a TLS chain",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.FilterChains[0].FilterChainMatch.TransportProtocol = "raw_buffer"
				return in
			},
			want: `listener "inbound": filter_chains[0].filter_chain_match.transport_protocol: transport protocol "raw_buffer" does not fit the chain's transport socket ("tls" needs TLS, "raw_buffer" none)`,
		},
		{
			name: "no filter chain",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.FilterChains = nil
				return out
			},
			want: `listener "outbound|web.default:80": filter_chains: at least one filter chain is required`,
		},
		{
			name: "API listener",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.ApiListener = &listenerv3.ApiListener{ApiListener: out.FilterChains[0].Filters[0].GetTypedConfig()}
				return out
			},
			want: `listener "outbound|web.default:80": api_listener: API listeners are for proxyless gRPC clients; weft-proxy does not serve them`,
		},
		{
			name: "original destination",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.UseOriginalDst = wrapperspb.Bool(true)
				return out
			},
			want: `listener "outbound|web.default:80": unsupported field "use_original_dst"`,
		},
		{
			name: "listener filter other than the TLS inspector",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.http_inspector"}}
				return in
			},
			want: `listener "inbound": listener_filters[0]: unsupported listener filter "envoy.filters.listener.http_inspector"`,
		},
		{
			name: "address is a host name",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.Address = sockAddr("localhost", 80)
				return out
			},
			want: `listener "outbound|web.default:80": address.socket_address.address: address "localhost" is not an IP address`,
		},
		{
			name: "UDP address",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
				return out
			},
			want: `listener "outbound|web.default:80": address.socket_address.protocol: unsupported protocol UDP`,
		},
		{
			name: "pipe address",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/x"}}}
				return out
			},
			want: `listener "outbound|web.default:80": address: unsupported field "pipe"`,
		},
		{
			name: "port out of range",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.Address = sockAddr("127.0.0.1", 70000)
				return out
			},
			want: `listener "outbound|web.default:80": address.socket_address.port_value: port 70000 is out of range 1-65535`,
		},
		{
			name: "transport socket other than TLS",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				in.FilterChains[0].TransportSocket = &corev3.TransportSocket{
					Name:       "envoy.transport_sockets.raw_buffer",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: rawAny("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer")},
				}
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket: unsupported transport socket "envoy.transport_sockets.raw_buffer" (only "envoy.transport_sockets.tls")`,
		},
		{
			name: "certificate other than default",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name = "mine"
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name: SDS secret must be "default", got "mine"`,
		},
		{
			name: "inline certificate",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.TlsCertificates = []*tlsv3.TlsCertificate{{}}
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.common_tls_context: unsupported field "tls_certificates"`,
		},
		{
			name: "validation from another secret",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.GetCombinedValidationContext().ValidationContextSdsSecretConfig.Name = "other"
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name: SDS secret must be "ROOTCA", got "other"`,
		},
		{
			name: "DNS SAN",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchTypedSubjectAltNames[0].SanType = tlsv3.SubjectAltNameMatcher_DNS
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].san_type: unsupported SAN type DNS (only URI)`,
		},
		{
			name: "SAN suffix matcher",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchTypedSubjectAltNames[0].Matcher =
					&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "/sa/web"}}
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher: unsupported field "suffix"`,
		},
		{
			name: "client certificate required without validation",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				c, put := tlsOf(t, in, 0)
				c.CommonTlsContext.ValidationContextType = nil
				put()
				return in
			},
			want: `listener "inbound": filter_chains[0].transport_socket.typed_config.require_client_certificate: requires a validation context with the "ROOTCA" secret`,
		},
		{
			name: "resource name differs",
			mutate: func(t *testing.T, in, out *listenerv3.Listener) *listenerv3.Listener {
				out.Name = "other"
				return out
			},
			want: `listener "outbound|web.default:80": name "other" inside differs from the resource name`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, out := inboundListener(t, "10.0.0.1", 15006), outboundHTTPListener(t, webUpstream)
			name := map[*listenerv3.Listener]string{}
			name[in], name[out] = in.Name, out.Name
			l := tt.mutate(t, in, out)
			if name[l] == "" {
				name[l] = l.Name
			}
			_, err := decodeResource(TypeListener, name[l], mustAny(t, proto.Clone(l)))
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}
