package translate

import (
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// How long an inbound listener that accepts plaintext waits for the first bytes of a
// connection before it treats the connection as plaintext (listener_filters_timeout, with
// continue_on_listener_filters_timeout). A TLS client sends its ClientHello at once; a
// plaintext client of a protocol where the server speaks first sends nothing until it has the
// server's banner, so it waits this long for it.
const (
	// DetectionTimeout is the bound of ordinary ports.
	DetectionTimeout = 100 * time.Millisecond
	// ServerFirstDetectionTimeout is the bound of a port declared serverFirst.
	ServerFirstDetectionTimeout = 20 * time.Millisecond
)

// TLS12CipherSuites are the cipher suites a mesh whose minimum TLS version is 1.2 accepts in
// TLS 1.2 (TLS 1.3 suites are all AEAD): ECDHE key exchange with an AEAD cipher only, in
// Envoy's (BoringSSL's) names.
var TLS12CipherSuites = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305",
	"ECDHE-RSA-CHACHA20-POLY1305",
}

// tlsParams are the TLS versions (and, with TLS 1.2, cipher suites) of both sides of the mesh
// link, from the Mesh's spec.tls.minVersion.
func (b *builder) tlsParams() *tlsv3.TlsParameters {
	p := &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
	}
	if mesh.MinTLSVersion(b.snap.Mesh) == mesh.TLSVersion12 {
		p.TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_2
		p.CipherSuites = append([]string(nil), TLS12CipherSuites...)
	}
	return p
}

// withTLSParams sets the mesh's TLS parameters on a common TLS context and returns it.
func (b *builder) withTLSParams(c *tlsv3.CommonTlsContext) *tlsv3.CommonTlsContext {
	c.TlsParams = b.tlsParams()
	return c
}

// plaintextTo reports whether callers reach a service port in plaintext: its mode is DISABLE.
func (b *builder) plaintextTo(sc serviceCluster) bool {
	return b.snap.MTLSMode(sc.key.Namespace, sc.key.Name, sc.port.Port).Mode == v1alpha1.MTLSModeDisable
}

// inboundPort is one app port of the sidecar with its effective mode and its mutual-TLS chain.
type inboundPort struct {
	app         wire.AppPort
	mode        string
	serverFirst bool
	tlsChain    *listenerv3.FilterChain
}

// inboundPlan collects the app ports of a sidecar, then lays out its inbound listeners by
// mutual TLS mode: the shared listener on the inbound port (chains chosen by the TLS server
// name), and one listener per dedicated inbound port.
type inboundPlan struct {
	b     *builder
	ports []inboundPort
}

// add records an app port whose mutual-TLS chain is built.
func (p *inboundPlan) add(app wire.AppPort, sp v1alpha1.ServicePort, tlsChain *listenerv3.FilterChain) {
	meta := p.b.proxy.Meta
	p.ports = append(p.ports, inboundPort{
		app:         app,
		mode:        p.b.snap.MTLSMode(meta.Namespace, meta.Service, app.Port).Mode,
		serverFirst: sp.ServerFirst && sp.AppProtocol == v1alpha1.ProtocolTCP,
		tlsChain:    tlsChain,
	})
}

// listeners builds the shared inbound listener (template: its name and address) and the
// dedicated ones.
//
// The shared listener has a mutual-TLS chain for each port that is not DISABLE. Plaintext is
// served there only when the workload has exactly one app port, not STRICT: a plaintext client
// sends no server name, so with several ports the listener cannot tell which one it wants, and
// refuses it (after detecting it, when a port that takes plaintext has no dedicated port). A dedicated listener serves one port: mutual TLS (STRICT), both (PERMISSIVE) or
// plaintext only (DISABLE). A listener that serves plaintext, or refuses it on behalf of a
// port that is not STRICT, detects TLS with the tls_inspector within the detection bound.
func (p *inboundPlan) listeners(shared *listenerv3.Listener) ([]*listenerv3.Listener, error) {
	var out []*listenerv3.Listener
	sniffShared := false
	for _, port := range p.ports {
		if port.mode != v1alpha1.MTLSModeStrict && port.app.InboundPort == 0 {
			sniffShared = true // its plaintext clients come to the shared port
		}
		if port.mode != v1alpha1.MTLSModeDisable {
			shared.FilterChains = append(shared.FilterChains, port.tlsChain)
		}
	}
	bound := DetectionTimeout
	if len(p.ports) == 1 && p.ports[0].mode != v1alpha1.MTLSModeStrict {
		shared.FilterChains = append(shared.FilterChains, plaintextChain(p.ports[0]))
		if p.ports[0].serverFirst {
			bound = ServerFirstDetectionTimeout
		}
	}
	if len(shared.FilterChains) > 0 {
		if err := p.detect(shared, sniffShared, bound); err != nil {
			return nil, err
		}
		out = append(out, shared)
	}
	for _, port := range p.ports {
		if port.app.InboundPort == 0 {
			continue
		}
		l := &listenerv3.Listener{
			Name:    wire.DedicatedInboundListenerName(port.app.Port),
			Address: socketAddress(bindAddress(p.b.proxy.Meta.Address), port.app.InboundPort),
		}
		switch port.mode {
		case v1alpha1.MTLSModeStrict:
			l.FilterChains = []*listenerv3.FilterChain{proto.Clone(port.tlsChain).(*listenerv3.FilterChain)}
		case v1alpha1.MTLSModePermissive:
			l.FilterChains = []*listenerv3.FilterChain{proto.Clone(port.tlsChain).(*listenerv3.FilterChain), plaintextChain(port)}
		default:
			l.FilterChains = []*listenerv3.FilterChain{plaintextChain(port)}
		}
		bound := DetectionTimeout
		if port.serverFirst {
			bound = ServerFirstDetectionTimeout
		}
		if err := p.detect(l, port.mode == v1alpha1.MTLSModePermissive, bound); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	for _, l := range out {
		for _, fc := range l.FilterChains {
			if fc.TransportSocket != nil {
				p.b.usesTLS = true
			}
		}
	}
	return out, nil
}

// detect sets the listener filters of an inbound listener. A listener with a TLS chain gets
// the tls_inspector (Envoy needs it to match server names). When sniff is set, the listener
// also serves or refuses plaintext: the inspector gives up after bound and the connection goes
// on as plaintext, and each chain says which transport it takes.
func (p *inboundPlan) detect(l *listenerv3.Listener, sniff bool, bound time.Duration) error {
	hasTLS := false
	for _, fc := range l.FilterChains {
		hasTLS = hasTLS || fc.TransportSocket != nil
	}
	if !hasTLS {
		return nil
	}
	inspector, err := tlsInspector()
	if err != nil {
		return err
	}
	l.ListenerFilters = []*listenerv3.ListenerFilter{inspector}
	if !sniff {
		return nil
	}
	l.ListenerFiltersTimeout = durationpb.New(bound)
	l.ContinueOnListenerFiltersTimeout = true
	for _, fc := range l.FilterChains {
		if fc.TransportSocket == nil {
			continue
		}
		if fc.FilterChainMatch == nil {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{}
		}
		fc.FilterChainMatch.TransportProtocol = wire.TransportProtocolTLS
	}
	return nil
}

// plaintextChain is the plaintext twin of a port's mutual-TLS chain: the same network filter,
// no transport socket, matching connections without TLS.
func plaintextChain(port inboundPort) *listenerv3.FilterChain {
	fc := proto.Clone(port.tlsChain).(*listenerv3.FilterChain)
	fc.Name = wire.InboundPlaintextChainName(port.app.Port)
	fc.TransportSocket = nil
	fc.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: wire.TransportProtocolRaw}
	return fc
}
