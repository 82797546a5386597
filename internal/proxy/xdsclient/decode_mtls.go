package xdsclient

import (
	"crypto/tls"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// cipherSuites are the TLS 1.2 cipher suites the proxy accepts in tls_params.cipher_suites, by
// their Envoy (BoringSSL) names: ECDHE key exchange with an AEAD cipher only.
var cipherSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// maxDetectionTimeout bounds listener_filters_timeout: a longer wait would let a silent
// connection hold a goroutine that long for nothing.
const maxDetectionTimeout = time.Minute

// decodeTLSParams reads tls_params: the minimum and maximum versions (TLS 1.2 or 1.3; AUTO
// means 1.3) and the TLS 1.2 cipher suites. It returns nil when tp is.
func decodeTLSParams(tp *tlsv3.TlsParameters, p path) (*config.TLSParams, error) {
	if tp == nil {
		return nil, nil
	}
	out := &config.TLSParams{}
	err := onlyFields(tp, p, "tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites")
	if err != nil {
		return nil, err
	}
	if out.MinVersion, err = tlsVersion(tp.GetTlsMinimumProtocolVersion(), p.field("tls_minimum_protocol_version")); err != nil {
		return nil, err
	}
	if out.MaxVersion, err = tlsVersion(tp.GetTlsMaximumProtocolVersion(), p.field("tls_maximum_protocol_version")); err != nil {
		return nil, err
	}
	if out.MinVersion != 0 && out.MaxVersion != 0 && out.MinVersion > out.MaxVersion {
		return nil, p.errorf("the minimum version %s is above the maximum %s", out.MinVersion, out.MaxVersion)
	}
	for i, name := range tp.GetCipherSuites() {
		id, ok := cipherSuites[name]
		if !ok {
			return nil, p.field("cipher_suites").index(i).errorf(
				"unsupported cipher suite %q (the proxy accepts ECDHE with AES-GCM or ChaCha20-Poly1305 only)", name)
		}
		out.CipherSuites = append(out.CipherSuites, id)
	}
	return out, nil
}

// tlsVersion maps an xDS TLS version to crypto/tls's; AUTO is 0 (the proxy's default, 1.3).
func tlsVersion(v tlsv3.TlsParameters_TlsProtocol, p path) (config.TLSVersion, error) {
	switch v {
	case tlsv3.TlsParameters_TLS_AUTO:
		return 0, nil
	case tlsv3.TlsParameters_TLSv1_2:
		return tls.VersionTLS12, nil
	case tlsv3.TlsParameters_TLSv1_3:
		return tls.VersionTLS13, nil
	}
	return 0, p.errorf("%s is not supported (TLS 1.2 or 1.3)", v)
}

// decodeTransportProtocol checks a filter chain's transport_protocol against its transport
// socket: "tls" needs TLS, "raw_buffer" needs none.
func decodeTransportProtocol(tp string, chain *config.FilterChain, p path) error {
	switch {
	case tp == config.TransportAny:
	case tp == config.TransportTLS && chain.TLS != nil:
	case tp == config.TransportRaw && chain.TLS == nil:
	case tp == config.TransportTLS || tp == config.TransportRaw:
		return p.errorf("transport protocol %q does not fit the chain's transport socket (\"tls\" needs TLS, \"raw_buffer\" none)", tp)
	default:
		return p.errorf("unsupported transport protocol %q (\"tls\" or \"raw_buffer\")", tp)
	}
	chain.TransportProtocol = tp
	return nil
}

// transportsOverlap reports whether two chains' transport protocols can match one connection.
func transportsOverlap(a, b string) bool {
	return a == config.TransportAny || b == config.TransportAny || a == b
}

// decodeDetection reads how the listener tells TLS from plaintext. It is set when the listener
// takes plaintext into account: a chain matches raw_buffer, or the tls_inspector has a timeout
// or goes on after it. A listener whose chains match TLS and raw_buffer needs the inspector.
func decodeDetection(l *listenerv3.Listener, chains []*config.FilterChain) (*config.Detection, error) {
	inspector := len(l.GetListenerFilters()) > 0 // checkListenerFilter admits the tls_inspector only
	var tlsChain, rawChain bool
	for _, c := range chains {
		tlsChain = tlsChain || c.TLS != nil
		rawChain = rawChain || c.TLS == nil
	}
	if tlsChain && rawChain && !inspector {
		return nil, path("listener_filters").errorf("filter chains with and without TLS on one listener need the %s listener filter", tlsInspector)
	}
	if !inspector {
		return nil, nil
	}
	d := &config.Detection{ContinueOnTimeout: l.GetContinueOnListenerFiltersTimeout()}
	if t := l.GetListenerFiltersTimeout(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, path("listener_filters_timeout").errorf("%w", err)
		}
		d.Timeout = t.AsDuration()
		if d.Timeout <= 0 || d.Timeout > maxDetectionTimeout {
			return nil, path("listener_filters_timeout").errorf("%s is not in (0, %s]", d.Timeout, maxDetectionTimeout)
		}
	}
	if !rawChain && !d.ContinueOnTimeout && l.GetListenerFiltersTimeout() == nil {
		return nil, nil // TLS only: the handshake itself refuses plaintext
	}
	return d, nil
}
