package xdsclient

import (
	"crypto/tls"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// permissiveListener is the inbound listener of a PERMISSIVE port 9000 (tcp), as translate
// emits it: the mutual-TLS chain and its plaintext twin, told apart by the tls_inspector
// within 100ms.
func permissiveListener(t testing.TB) *listenerv3.Listener {
	l := inboundListener(t, "10.0.0.1", 15006)
	tlsChain := l.FilterChains[1]
	tlsChain.FilterChainMatch.TransportProtocol = "tls"
	raw := proto.Clone(tlsChain).(*listenerv3.FilterChain)
	raw.Name = wire.InboundPlaintextChainName(9000)
	raw.TransportSocket = nil
	raw.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"}
	// The catch-all plaintext chain comes first here: the decoder puts it last.
	l.FilterChains = []*listenerv3.FilterChain{raw, tlsChain}
	l.ListenerFiltersTimeout = durationpb.New(100 * time.Millisecond)
	l.ContinueOnListenerFiltersTimeout = true
	return l
}

func TestDecodeMTLSListenerAccepts(t *testing.T) {
	tcp := &config.TCPProxy{StatPrefix: "inbound_9000", Cluster: "inbound|9000"}
	tests := []struct {
		name string
		in   func(t *testing.T) *listenerv3.Listener
		want *config.Listener
	}{
		{
			name: "permissive",
			in:   func(t *testing.T) *listenerv3.Listener { return permissiveListener(t) },
			want: &config.Listener{
				Name: "inbound", Address: "10.0.0.1:15006",
				FilterChains: []*config.FilterChain{
					{Name: "p9000", ServerNames: []string{"p9000.inbound.weft"}, TransportProtocol: "tls", TLS: wantDownstreamTLS(), TCP: tcp},
					{Name: "inbound|9000|plaintext", TransportProtocol: "raw_buffer", TCP: tcp},
				},
				Detection: &config.Detection{Timeout: 100 * time.Millisecond, ContinueOnTimeout: true},
			},
		},
		{
			name: "refusing plaintext on a TLS-only listener after detection",
			in: func(t *testing.T) *listenerv3.Listener {
				l := inboundListener(t, "10.0.0.1", 15006)
				l.FilterChains = l.FilterChains[1:]
				l.FilterChains[0].FilterChainMatch.TransportProtocol = "tls"
				l.ListenerFiltersTimeout = durationpb.New(100 * time.Millisecond)
				l.ContinueOnListenerFiltersTimeout = true
				return l
			},
			want: &config.Listener{
				Name: "inbound", Address: "10.0.0.1:15006",
				FilterChains: []*config.FilterChain{
					{Name: "p9000", ServerNames: []string{"p9000.inbound.weft"}, TransportProtocol: "tls", TLS: wantDownstreamTLS(), TCP: tcp},
				},
				Detection: &config.Detection{Timeout: 100 * time.Millisecond, ContinueOnTimeout: true},
			},
		},
		{
			name: "plaintext only (DISABLE), no inspector",
			in: func(t *testing.T) *listenerv3.Listener {
				l := permissiveListener(t)
				l.Name = wire.DedicatedInboundListenerName(9000)
				l.FilterChains = l.FilterChains[:1]
				l.ListenerFilters, l.ListenerFiltersTimeout, l.ContinueOnListenerFiltersTimeout = nil, nil, false
				return l
			},
			want: &config.Listener{
				Name: "inbound|9000", Address: "10.0.0.1:15006",
				FilterChains: []*config.FilterChain{{Name: "inbound|9000|plaintext", TransportProtocol: "raw_buffer", TCP: tcp}},
			},
		},
		{
			name: "TLS 1.2 with AEAD suites",
			in: func(t *testing.T) *listenerv3.Listener {
				l := inboundListener(t, "10.0.0.1", 15006)
				l.FilterChains = l.FilterChains[1:]
				ctx := downstreamTLS(t)
				ctx.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{
					TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
					TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
					CipherSuites:              []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
				}
				l.FilterChains[0].TransportSocket = tlsSocket(t, ctx)
				return l
			},
			want: func() *config.Listener {
				d := wantDownstreamTLS()
				d.Params = &config.TLSParams{
					MinVersion:   tls.VersionTLS12,
					MaxVersion:   tls.VersionTLS13,
					CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
				}
				return &config.Listener{
					Name: "inbound", Address: "10.0.0.1:15006",
					FilterChains: []*config.FilterChain{{Name: "p9000", ServerNames: []string{"p9000.inbound.weft"}, TLS: d, TCP: tcp}},
				}
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.in(t)
			v, err := decodeResource(TypeListener, l.Name, mustAny(t, l))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, v.(*listenerResource).listener); diff != "" {
				t.Errorf("listener (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMTLSListenerRefuses(t *testing.T) {
	withParams := func(tp *tlsv3.TlsParameters) func(t *testing.T, l *listenerv3.Listener) {
		return func(t *testing.T, l *listenerv3.Listener) {
			ctx := downstreamTLS(t)
			ctx.CommonTlsContext.TlsParams = tp
			l.FilterChains[1].TransportSocket = tlsSocket(t, ctx)
		}
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, l *listenerv3.Listener)
		want   string
	}{
		{
			name:   "TLS and plaintext chains without the inspector",
			mutate: func(t *testing.T, l *listenerv3.Listener) { l.ListenerFilters = nil },
			want:   `listener "inbound": listener_filters: filter chains with and without TLS on one listener need the envoy.filters.listener.tls_inspector listener filter`,
		},
		{
			name:   "zero detection timeout",
			mutate: func(t *testing.T, l *listenerv3.Listener) { l.ListenerFiltersTimeout = durationpb.New(0) },
			want:   `listener "inbound": listener_filters_timeout: 0s is not in (0, 1m0s]`,
		},
		{
			name:   "detection timeout too long",
			mutate: func(t *testing.T, l *listenerv3.Listener) { l.ListenerFiltersTimeout = durationpb.New(2 * time.Minute) },
			want:   `listener "inbound": listener_filters_timeout: 2m0s is not in (0, 1m0s]`,
		},
		{
			name: "server names on a plaintext chain",
			mutate: func(t *testing.T, l *listenerv3.Listener) {
				l.FilterChains[0].FilterChainMatch.ServerNames = []string{"p9000.inbound.weft"}
			},
			want: `listener "inbound": filter_chains[0].filter_chain_match.server_names: server names need a TLS filter chain`,
		},
		{
			name: "tls on a plaintext chain",
			mutate: func(t *testing.T, l *listenerv3.Listener) {
				l.FilterChains[0].FilterChainMatch.TransportProtocol = "tls"
			},
			want: `listener "inbound": filter_chains[0].filter_chain_match.transport_protocol: transport protocol "tls" does not fit the chain's transport socket ("tls" needs TLS, "raw_buffer" none)`,
		},
		{
			name: "unknown transport protocol",
			mutate: func(t *testing.T, l *listenerv3.Listener) {
				l.FilterChains[0].FilterChainMatch.TransportProtocol = "quic"
			},
			want: `listener "inbound": filter_chains[0].filter_chain_match.transport_protocol: unsupported transport protocol "quic" ("tls" or "raw_buffer")`,
		},
		{
			name: "two plaintext catch-all chains",
			mutate: func(t *testing.T, l *listenerv3.Listener) {
				second := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
				second.Name = "again"
				l.FilterChains = append(l.FilterChains, second)
			},
			want: `listener "inbound": filter_chains[2].filter_chain_match: more than one filter chain matches every connection`,
		},
		{
			name: "a catch-all of any transport next to a plaintext one",
			mutate: func(t *testing.T, l *listenerv3.Listener) {
				second := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
				second.FilterChainMatch = nil
				l.FilterChains = append(l.FilterChains, second)
			},
			want: `listener "inbound": filter_chains[2].filter_chain_match: more than one filter chain matches every connection`,
		},
		{
			name:   "TLS 1.1",
			mutate: withParams(&tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_1}),
			want:   `listener "inbound": filter_chains[1].transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version: TLSv1_1 is not supported (TLS 1.2 or 1.3)`,
		},
		{
			name: "minimum above maximum",
			mutate: withParams(&tlsv3.TlsParameters{
				TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
			}),
			want: `listener "inbound": filter_chains[1].transport_socket.typed_config.common_tls_context.tls_params: the minimum version 1.3 is above the maximum 1.2`,
		},
		{
			name:   "a cipher suite without forward secrecy",
			mutate: withParams(&tlsv3.TlsParameters{CipherSuites: []string{"ECDHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"}}),
			want:   `listener "inbound": filter_chains[1].transport_socket.typed_config.common_tls_context.tls_params.cipher_suites[1]: unsupported cipher suite "AES128-GCM-SHA256" (the proxy accepts ECDHE with AES-GCM or ChaCha20-Poly1305 only)`,
		},
		{
			name:   "ECDH curves",
			mutate: withParams(&tlsv3.TlsParameters{EcdhCurves: []string{"P-256"}}),
			want:   `listener "inbound": filter_chains[1].transport_socket.typed_config.common_tls_context.tls_params: unsupported field "ecdh_curves"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := permissiveListener(t)
			tt.mutate(t, l)
			_, err := decodeResource(TypeListener, l.Name, mustAny(t, l))
			if err == nil {
				t.Fatalf("decode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDecodeUpstreamTLSParams(t *testing.T) {
	c := edsCluster(t, "web", 80, wire.ALPNHTTP11, "spiffe://weft.local/ns/default/sa/web")
	ctx := &tlsv3.UpstreamTlsContext{
		Sni:              wire.InboundSNI(80),
		CommonTlsContext: commonTLSContext([]string{wire.ALPNHTTP11}),
	}
	ctx.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3}
	c.TransportSocket = tlsSocket(t, ctx)
	res, err := decodeCluster(c)
	if err != nil {
		t.Fatalf("decodeCluster: %v", err)
	}
	if got := res.cluster.TLS.Params; got == nil || got.MinVersion != tls.VersionTLS13 || got.MaxVersion != 0 || got.CipherSuites != nil {
		t.Errorf("params = %+v, want minimum TLS 1.3", got)
	}

	// A plaintext cluster (a DISABLE service port) has no TLS at all.
	c.TransportSocket = nil
	res, err = decodeCluster(c)
	if err != nil {
		t.Fatalf("decodeCluster (plaintext): %v", err)
	}
	if res.cluster.TLS != nil || res.usesRootCA {
		t.Errorf("plaintext cluster decoded with TLS %+v", res.cluster.TLS)
	}
}
