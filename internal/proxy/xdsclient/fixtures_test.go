package xdsclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"regexp"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// Builders of the resources docs/xds.md describes, as translate emits them. Tests mutate
// copies of them to make each refusal.

const trustDomainPrefix = "spiffe://weft.local/"

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("anypb.New(%T): %v", m, err)
	}
	return a
}

// rawAny is an Any of a type the proxy does not know; its value is never decoded.
func rawAny(typeName string) *anypb.Any {
	return &anypb.Any{TypeUrl: typeURLPrefix + typeName}
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func sds(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: ads()}
}

func uriMatcher(m *matcherv3.StringMatcher) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: m}
}

func commonTLSContext(alpn []string, sans ...*tlsv3.SubjectAltNameMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds(wire.SecretDefault)},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
				ValidationContextSdsSecretConfig: sds(wire.SecretRootCA),
			},
		},
		AlpnProtocols: alpn,
	}
}

func downstreamTLS(t testing.TB) *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: commonTLSContext([]string{wire.ALPNHTTP2, wire.ALPNHTTP11, wire.ALPNTCP},
			uriMatcher(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: trustDomainPrefix}})),
	}
}

func tlsSocket(t testing.TB, m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       tlsSocketName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, m)},
	}
}

func networkFilter(t testing.TB, name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, m)}}
}

func routerFilter(t testing.TB) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: routerName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}
}

func inlineRoute(name, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "inbound",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
}

func httpManager(statPrefix string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{StatPrefix: statPrefix, CodecType: hcmv3.HttpConnectionManager_AUTO}
}

// inboundListener: port 8080 is HTTP (inline route), port 9000 is TCP.
func inboundListener(t testing.TB, ip string, port uint32) *listenerv3.Listener {
	hcm := httpManager("inbound_8080")
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: inlineRoute(wire.InboundClusterName(8080), wire.InboundClusterName(8080))}
	hcm.HttpFilters = []*hcmv3.HttpFilter{routerFilter(t)}
	return &listenerv3.Listener{
		Name:            wire.InboundListenerName,
		Address:         sockAddr(ip, port),
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: tlsInspector}},
		FilterChains: []*listenerv3.FilterChain{
			{
				Name:             "p8080",
				FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{wire.InboundSNI(8080)}},
				TransportSocket:  tlsSocket(t, downstreamTLS(t)),
				Filters:          []*listenerv3.Filter{networkFilter(t, hcmFilterName, hcm)},
			},
			{
				Name:             "p9000",
				FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{wire.InboundSNI(9000)}},
				TransportSocket:  tlsSocket(t, downstreamTLS(t)),
				Filters: []*listenerv3.Filter{networkFilter(t, tcpFilterName, &tcpproxyv3.TcpProxy{
					StatPrefix:       "inbound_9000",
					ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: wire.InboundClusterName(9000)},
				})},
			},
		},
	}
}

// outboundHTTPListener listens on 127.0.0.1:localPort and routes with RDS route.
func outboundHTTPListener(t testing.TB, u wire.Upstream) *listenerv3.Listener {
	hcm := httpManager("outbound_" + u.Key())
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads(), RouteConfigName: u.Key()}}
	hcm.HttpFilters = []*hcmv3.HttpFilter{routerFilter(t)}
	return &listenerv3.Listener{
		Name:         wire.OutboundListenerName(u),
		Address:      sockAddr("127.0.0.1", uint32(u.LocalPort)),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{networkFilter(t, hcmFilterName, hcm)}}},
	}
}

func outboundTCPListener(t testing.TB, u wire.Upstream) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:    wire.OutboundListenerName(u),
		Address: sockAddr("127.0.0.1", uint32(u.LocalPort)),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{networkFilter(t, tcpFilterName, &tcpproxyv3.TcpProxy{
			StatPrefix:       "outbound_" + u.Key(),
			ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: wire.OutboundClusterName(u.Service, u.Namespace, u.Port)},
		})}}},
	}
}

// serviceRoutes: a header-matched route to v2 and a default route to the service.
func serviceRoutes(u wire.Upstream) *routev3.RouteConfiguration {
	cluster := wire.OutboundClusterName(u.Service, u.Namespace, u.Port)
	return &routev3.RouteConfiguration{
		Name: u.Key(),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    u.Key(),
			Domains: []string{"*"},
			Routes: []*routev3.Route{
				{
					Name: "canary",
					Match: &routev3.RouteMatch{
						PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/api"},
						Headers: []*routev3.HeaderMatcher{{
							Name: "X-Canary",
							HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
								MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "yes"},
							}},
						}},
					},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
							Clusters: []*routev3.WeightedCluster_ClusterWeight{
								{Name: cluster, Weight: wrapperspb.UInt32(90)},
								{Name: "outbound|80||web-v2.default", Weight: wrapperspb.UInt32(10)},
							},
						}},
						Timeout: durationpb.New(3 * time.Second),
					}},
				},
				{
					Name:  "default",
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
					}},
				},
			},
		}},
	}
}

func http2Options(t testing.TB) map[string]*anypb.Any {
	return map[string]*anypb.Any{httpOptionsName: mustAny(t, &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})}
}

func loadAssignment(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	lle := &endpointv3.LocalityLbEndpoints{}
	for _, a := range addrs {
		lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(a, 15006)}},
		})
	}
	cla.Endpoints = []*endpointv3.LocalityLbEndpoints{lle}
	return cla
}

func staticCluster(t testing.TB, name, ip string, port uint32, http2 bool) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(ip, port)}}}},
		}}},
	}
	if http2 {
		c.TypedExtensionProtocolOptions = http2Options(t)
	}
	return c
}

// edsCluster is an outbound cluster with mutual TLS to the service's workloads.
func edsCluster(t testing.TB, service string, port int32, alpn string, sans ...string) *clusterv3.Cluster {
	var matchers []*tlsv3.SubjectAltNameMatcher
	for _, s := range sans {
		matchers = append(matchers, uriMatcher(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}))
	}
	name := wire.OutboundClusterName(service, "default", port)
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		ConnectTimeout:       durationpb.New(2 * time.Second),
		TransportSocket: tlsSocket(t, &tlsv3.UpstreamTlsContext{
			Sni:              wire.InboundSNI(port),
			CommonTlsContext: commonTLSContext([]string{alpn}, matchers...),
		}),
	}
}

func rootCASecret(pemBytes []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: wire.SecretRootCA,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: pemBytes}},
		}},
	}
}

var (
	testCAOnce sync.Once
	testCAPEM  []byte
)

// testCA returns the PEM of a self-signed CA certificate made once per test binary.
func testCA(t testing.TB) []byte {
	t.Helper()
	testCAOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("generating key: %v", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "weft test root"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatalf("creating certificate: %v", err)
		}
		testCAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	return testCAPEM
}

// cmpRegexp compares regular expressions by their source.
var cmpRegexp = cmp.Comparer(func(a, b *regexp.Regexp) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
})

// The configs the builders above decode to.

func wantDownstreamTLS() *config.DownstreamTLS {
	return &config.DownstreamTLS{
		RequireClientCert:  true,
		ALPN:               []string{"h2", "http/1.1", "weft-tcp"},
		AllowedSANPrefixes: []string{trustDomainPrefix},
	}
}

func wantInboundListener(address string) *config.Listener {
	return &config.Listener{
		Name:    "inbound",
		Address: address,
		FilterChains: []*config.FilterChain{
			{
				Name:        "p8080",
				ServerNames: []string{"p8080.inbound.weft"},
				TLS:         wantDownstreamTLS(),
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
			{
				Name:        "p9000",
				ServerNames: []string{"p9000.inbound.weft"},
				TLS:         wantDownstreamTLS(),
				TCP:         &config.TCPProxy{StatPrefix: "inbound_9000", Cluster: "inbound|9000"},
			},
		},
	}
}

func wantHTTPListener(u wire.Upstream) *config.Listener {
	return &config.Listener{
		Name:    wire.OutboundListenerName(u),
		Address: fmt.Sprintf("127.0.0.1:%d", u.LocalPort),
		FilterChains: []*config.FilterChain{{
			HTTP: &config.HTTPConnectionManager{StatPrefix: "outbound_" + u.Key(), RouteName: u.Key()},
		}},
	}
}

func wantTCPListener(u wire.Upstream) *config.Listener {
	return &config.Listener{
		Name:    wire.OutboundListenerName(u),
		Address: fmt.Sprintf("127.0.0.1:%d", u.LocalPort),
		FilterChains: []*config.FilterChain{{
			TCP: &config.TCPProxy{StatPrefix: "outbound_" + u.Key(), Cluster: wire.OutboundClusterName(u.Service, u.Namespace, u.Port)},
		}},
	}
}

func wantServiceRoutes(u wire.Upstream) *config.RouteTable {
	cluster := wire.OutboundClusterName(u.Service, u.Namespace, u.Port)
	return &config.RouteTable{Name: u.Key(), VirtualHosts: []*config.VirtualHost{{
		Name:    u.Key(),
		Domains: []string{"*"},
		Routes: []*config.Route{
			{
				Name:        "canary",
				Match:       config.RouteMatch{Prefix: "/api", Headers: []config.HeaderMatch{{Name: "x-canary", Exact: "yes"}}},
				Clusters:    []config.WeightedCluster{{Name: cluster, Weight: 90}, {Name: "outbound|80||web-v2.default", Weight: 10}},
				TotalWeight: 100,
				Timeout:     3 * time.Second,
			},
			{
				Name:        "default",
				Match:       config.RouteMatch{Prefix: "/"},
				Clusters:    []config.WeightedCluster{{Name: cluster, Weight: 1}},
				TotalWeight: 1,
				Timeout:     15 * time.Second,
			},
		},
	}}}
}

// wantEndpoints lists addr:15006 for each address, as loadAssignment makes them.
func wantEndpoints(addrs ...string) []config.Endpoint {
	var out []config.Endpoint
	for _, a := range addrs {
		out = append(out, config.Endpoint{Address: a + ":15006"})
	}
	return out
}
