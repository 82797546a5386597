package xdsclient

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/internal/proxy/config"
)

func TestDecodeClusterAccepts(t *testing.T) {
	tests := []struct {
		name    string
		in      *clusterv3.Cluster
		want    *config.Cluster
		edsName string
		rootCA  bool
	}{
		{
			name: "static HTTP/2",
			in:   staticCluster(t, "inbound|8080", "127.0.0.1", 9001, true),
			want: &config.Cluster{Name: "inbound|8080", Protocol: config.HTTP2, ConnectTimeout: time.Second,
				Endpoints: []config.Endpoint{{Address: "127.0.0.1:9001"}}},
		},
		{
			name: "static, default connect timeout and HTTP/1.1",
			in: func() *clusterv3.Cluster {
				c := staticCluster(t, "inbound|9000", "127.0.0.1", 9002, false)
				c.ConnectTimeout = nil
				return c
			}(),
			want: &config.Cluster{Name: "inbound|9000", Protocol: config.HTTP1, ConnectTimeout: 5 * time.Second,
				Endpoints: []config.Endpoint{{Address: "127.0.0.1:9002"}}},
		},
		{
			name: "EDS with mutual TLS",
			in: func() *clusterv3.Cluster {
				c := edsCluster(t, "web", 80, "h2", "spiffe://weft.local/ns/default/sa/web")
				c.TypedExtensionProtocolOptions = http2Options(t)
				return c
			}(),
			want: &config.Cluster{Name: "outbound|80||web.default", Protocol: config.HTTP2, ConnectTimeout: 2 * time.Second,
				TLS: &config.UpstreamTLS{SNI: "p80.inbound.weft", ALPN: []string{"h2"},
					AllowedSANs: []string{"spiffe://weft.local/ns/default/sa/web"}}},
			edsName: "outbound|80||web.default",
			rootCA:  true,
		},
		{
			name: "EDS with a service name, deprecated http2_protocol_options",
			in: func() *clusterv3.Cluster {
				c := edsCluster(t, "web", 80, "h2")
				c.EdsClusterConfig.ServiceName = "web-endpoints"
				c.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{}
				return c
			}(),
			want: &config.Cluster{Name: "outbound|80||web.default", Protocol: config.HTTP2, ConnectTimeout: 2 * time.Second,
				TLS: &config.UpstreamTLS{SNI: "p80.inbound.weft", ALPN: []string{"h2"}}},
			edsName: "web-endpoints",
			rootCA:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeResource(TypeCluster, tt.in.GetName(), mustAny(t, tt.in))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			cr := got.(*clusterResource)
			if diff := cmp.Diff(tt.want, cr.cluster); diff != "" {
				t.Errorf("cluster (-want +got):\n%s", diff)
			}
			if cr.edsName != tt.edsName || cr.usesRootCA != tt.rootCA {
				t.Errorf("edsName, usesRootCA = %q, %v; want %q, %v", cr.edsName, cr.usesRootCA, tt.edsName, tt.rootCA)
			}
		})
	}
}

func TestDecodeClusterRefuses(t *testing.T) {
	const at = `cluster "outbound|80||web.default": `
	upstreamTLS := func(t *testing.T, c *clusterv3.Cluster, f func(*tlsv3.UpstreamTlsContext)) {
		u := &tlsv3.UpstreamTlsContext{}
		if err := c.TransportSocket.GetTypedConfig().UnmarshalTo(u); err != nil {
			t.Fatal(err)
		}
		f(u)
		c.TransportSocket = tlsSocket(t, u)
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, c *clusterv3.Cluster)
		want   string
	}{
		{
			name: "discovery type STRICT_DNS",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
			},
			want: at + `type: unsupported discovery type STRICT_DNS (only STATIC and EDS)`,
		},
		{
			name:   "least request",
			mutate: func(t *testing.T, c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST },
			want:   at + `lb_policy: unsupported load balancing policy LEAST_REQUEST (only ROUND_ROBIN)`,
		},
		{
			name:   "EDS not over ADS",
			mutate: func(t *testing.T, c *clusterv3.Cluster) { c.EdsClusterConfig.EdsConfig = &corev3.ConfigSource{} },
			want:   at + `eds_cluster_config.eds_config: only ADS config sources are supported`,
		},
		{
			name:   "EDS without config",
			mutate: func(t *testing.T, c *clusterv3.Cluster) { c.EdsClusterConfig = nil },
			want:   at + `eds_cluster_config: an EDS cluster requires an eds_cluster_config`,
		},
		{
			name: "static without endpoints",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
				c.EdsClusterConfig = nil
			},
			want: at + `load_assignment: a STATIC cluster requires a load_assignment`,
		},
		{
			name:   "outlier detection",
			mutate: func(t *testing.T, c *clusterv3.Cluster) { c.OutlierDetection = &clusterv3.OutlierDetection{} },
			want:   at + `unsupported field "outlier_detection"`,
		},
		{
			name:   "zero connect timeout",
			mutate: func(t *testing.T, c *clusterv3.Cluster) { c.ConnectTimeout = durationpb.New(0) },
			want:   at + `connect_timeout: connect timeout 0s is not positive`,
		},
		{
			name: "upstream TLS without validation",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				upstreamTLS(t, c, func(u *tlsv3.UpstreamTlsContext) { u.CommonTlsContext.ValidationContextType = nil })
			},
			want: at + `transport_socket.typed_config.common_tls_context: a validation context with the "ROOTCA" secret is required to verify upstream peers`,
		},
		{
			name: "upstream TLS without certificate",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				upstreamTLS(t, c, func(u *tlsv3.UpstreamTlsContext) { u.CommonTlsContext.TlsCertificateSdsSecretConfigs = nil })
			},
			want: at + `transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs: exactly one SDS certificate ("default") is required, got 0`,
		},
		{
			name: "downstream context on a cluster",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				c.TransportSocket = tlsSocket(t, &tlsv3.DownstreamTlsContext{})
			},
			want: at + `transport_socket.typed_config: expected an UpstreamTlsContext, got "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"`,
		},
		{
			name: "unknown protocol options",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.filters.network.thrift_proxy": rawAny("x")}
			},
			want: at + `typed_extension_protocol_options["envoy.filters.network.thrift_proxy"]: unsupported protocol options (only "envoy.extensions.upstreams.http.v3.HttpProtocolOptions")`,
		},
		{
			name: "protocol chosen automatically",
			mutate: func(t *testing.T, c *clusterv3.Cluster) {
				c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpOptionsName: mustAny(t, &httpv3.HttpProtocolOptions{
					UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &httpv3.HttpProtocolOptions_AutoHttpConfig{}},
				})}
			},
			want: at + `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]: unsupported field "auto_config"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := edsCluster(t, "web", 80, "h2")
			tt.mutate(t, c)
			_, err := decodeResource(TypeCluster, c.Name, mustAny(t, c))
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDecodeEndpoints(t *testing.T) {
	lbe := func(ip string, port uint32, hs corev3.HealthStatus) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{HealthStatus: hs, HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(ip, port)}}}
	}
	const name = "outbound|80||web.default"
	tests := []struct {
		name    string
		in      []*endpointv3.LocalityLbEndpoints
		want    []config.Endpoint
		wantErr string
	}{
		{
			name: "unhealthy, draining and timed out endpoints are left out",
			in: []*endpointv3.LocalityLbEndpoints{
				{LbEndpoints: []*endpointv3.LbEndpoint{
					lbe("10.0.0.1", 15006, corev3.HealthStatus_UNKNOWN),
					lbe("10.0.0.2", 15006, corev3.HealthStatus_UNHEALTHY),
					lbe("10.0.0.3", 15006, corev3.HealthStatus_HEALTHY),
				}},
				{LbEndpoints: []*endpointv3.LbEndpoint{
					lbe("10.0.0.4", 15006, corev3.HealthStatus_DRAINING),
					lbe("10.0.0.5", 15006, corev3.HealthStatus_DEGRADED),
					lbe("10.0.0.6", 15006, corev3.HealthStatus_TIMEOUT),
				}},
			},
			want: []config.Endpoint{{Address: "10.0.0.1:15006"}, {Address: "10.0.0.3:15006"}, {Address: "10.0.0.5:15006"}},
		},
		{
			name: "no endpoints",
			want: []config.Endpoint{},
		},
		{
			name: "locality weight is ignored",
			in: []*endpointv3.LocalityLbEndpoints{{LoadBalancingWeight: wrapperspb.UInt32(3),
				LbEndpoints: []*endpointv3.LbEndpoint{lbe("10.0.0.1", 80, 0)}}},
			want: []config.Endpoint{{Address: "10.0.0.1:80"}},
		},
		{
			name:    "host name",
			in:      []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{lbe("web.example", 80, 0)}}},
			wantErr: `cluster load assignment "outbound|80||web.default": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: address "web.example" is not an IP address`,
		},
		{
			name:    "port zero",
			in:      []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{lbe("10.0.0.1", 0, 0)}}},
			wantErr: `cluster load assignment "outbound|80||web.default": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: port 0 is out of range 1-65535`,
		},
		{
			name:    "priorities",
			in:      []*endpointv3.LocalityLbEndpoints{{Priority: 1, LbEndpoints: []*endpointv3.LbEndpoint{lbe("10.0.0.1", 80, 0)}}},
			wantErr: `cluster load assignment "outbound|80||web.default": endpoints[0]: unsupported field "priority"`,
		},
		{
			name: "weighted endpoint",
			in: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{func() *endpointv3.LbEndpoint {
				e := lbe("10.0.0.1", 80, 0)
				e.LoadBalancingWeight = wrapperspb.UInt32(5)
				return e
			}()}}},
			wantErr: `cluster load assignment "outbound|80||web.default": endpoints[0].lb_endpoints[0].load_balancing_weight: weighted endpoints are not supported (weight 5)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: tt.in}
			got, err := decodeResource(TypeEndpoint, name, mustAny(t, cla))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	ca := testCA(t)
	withSpecifier := func(ds *corev3.DataSource) *tlsv3.Secret {
		s := rootCASecret(nil)
		s.GetValidationContext().TrustedCa = ds
		return s
	}
	tests := []struct {
		name    string
		secret  *tlsv3.Secret
		want    []byte
		wantErr string
	}{
		{name: "inline bytes", secret: rootCASecret(ca), want: ca},
		{
			name:   "inline string with surrounding text",
			secret: withSpecifier(&corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "\n" + string(ca) + string(ca) + "\n"}}),
			want:   append(append([]byte{}, ca...), ca...),
		},
		{
			name:    "file",
			secret:  withSpecifier(&corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/ca.pem"}}),
			wantErr: `secret "ROOTCA": validation_context.trusted_ca: unsupported field "filename"`,
		},
		{
			name:    "not PEM",
			secret:  rootCASecret([]byte("hello")),
			wantErr: `secret "ROOTCA": validation_context.trusted_ca: trailing data that is not PEM`,
		},
		{
			name:    "a key among the certificates",
			secret:  rootCASecret(append(append([]byte{}, ca...), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")...)),
			wantErr: `secret "ROOTCA": validation_context.trusted_ca: PEM block 1 is a "PRIVATE KEY", want CERTIFICATE`,
		},
		{
			name:    "a certificate for TLS",
			secret:  &tlsv3.Secret{Name: "ROOTCA", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{}}},
			wantErr: `secret "ROOTCA": unsupported field "tls_certificate"`,
		},
		{
			name:    "empty",
			secret:  rootCASecret(nil),
			wantErr: `secret "ROOTCA": validation_context.trusted_ca: no PEM certificate`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeResource(TypeSecret, "ROOTCA", mustAny(t, tt.secret))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(string(tt.want), string(got.([]byte))); diff != "" {
				t.Errorf("trust bundle (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeResourceRefuses(t *testing.T) {
	tests := []struct {
		name    string
		typeURL string
		resName string
		res     *anypb.Any
		want    string
		// prefix: the error starts with want (the rest comes from the protobuf library).
		prefix bool
	}{
		{
			name:    "type differs from the response's",
			typeURL: TypeCluster,
			resName: "x",
			res:     mustAny(t, inboundListener(t, "10.0.0.1", 15006)),
			want:    `cluster "x": resource of type "type.googleapis.com/envoy.config.listener.v3.Listener" in a "type.googleapis.com/envoy.config.cluster.v3.Cluster" response`,
		},
		{
			name:    "the proxy's own certificate",
			typeURL: TypeSecret,
			resName: "default",
			res:     mustAny(t, &tlsv3.Secret{Name: "default"}),
			want:    `secret "default": unexpected secret (the proxy only takes "ROOTCA")`,
		},
		{
			name:    "unsupported type",
			typeURL: typeURLPrefix + "envoy.config.route.v3.ScopedRouteConfiguration",
			resName: "x",
			res:     rawAny("envoy.config.route.v3.ScopedRouteConfiguration"),
			want:    `resource "x": unsupported resource type "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration"`,
		},
		{
			name:    "corrupt bytes",
			typeURL: TypeRoute,
			resName: "x",
			res:     &anypb.Any{TypeUrl: TypeRoute, Value: []byte{0xff, 0xff}},
			want:    `route configuration "x": decoding: `,
			prefix:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeResource(tt.typeURL, tt.resName, tt.res)
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if ok := err.Error() == tt.want || tt.prefix && strings.HasPrefix(err.Error(), tt.want); !ok {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestTypeURLs(t *testing.T) {
	for url, res := range map[string]*anypb.Any{
		TypeListener: mustAny(t, inboundListener(t, "10.0.0.1", 1)),
		TypeCluster:  mustAny(t, edsCluster(t, "web", 80, "h2")),
		TypeRoute:    mustAny(t, serviceRoutes(webUpstream)),
		TypeEndpoint: mustAny(t, loadAssignment("x", "10.0.0.1")),
		TypeSecret:   mustAny(t, rootCASecret(nil)),
	} {
		if got := res.GetTypeUrl(); got != url {
			t.Errorf("type URL constant %q, the proto's is %q", url, got)
		}
	}
}
