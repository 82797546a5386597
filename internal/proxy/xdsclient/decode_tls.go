package xdsclient

import (
	"crypto/x509"
	"encoding/pem"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// commonTLS is what the proxy takes from a CommonTlsContext.
type commonTLS struct {
	alpn        []string
	sans        []string
	sanPrefixes []string
	// validated is true when peers are verified against the ROOTCA secret.
	validated bool
	// params are the TLS versions and cipher suites, nil when tls_params is absent.
	params *config.TLSParams
}

// decodeDownstreamTLS decodes a listener's "envoy.transport_sockets.tls" transport socket;
// usesRootCA reports whether peers are verified against the ROOTCA secret.
func decodeDownstreamTLS(ts *corev3.TransportSocket, p path) (_ *config.DownstreamTLS, usesRootCA bool, _ error) {
	tc, err := tlsSocketConfig(ts, p)
	if err != nil {
		return nil, false, err
	}
	p = p.field("typed_config")
	ctx := &tlsv3.DownstreamTlsContext{}
	if !tc.MessageIs(ctx) {
		return nil, false, p.errorf("expected a DownstreamTlsContext, got %q", tc.GetTypeUrl())
	}
	if err := tc.UnmarshalTo(ctx); err != nil {
		return nil, false, p.errorf("decoding DownstreamTlsContext: %w", err)
	}
	if err := onlyFields(ctx, p, "common_tls_context", "require_client_certificate"); err != nil {
		return nil, false, err
	}
	common, err := decodeCommonTLS(ctx.GetCommonTlsContext(), p.field("common_tls_context"))
	if err != nil {
		return nil, false, err
	}
	require := ctx.GetRequireClientCertificate().GetValue()
	if require && !common.validated {
		return nil, false, p.field("require_client_certificate").errorf(
			"requires a validation context with the %q secret", wire.SecretRootCA)
	}
	return &config.DownstreamTLS{
		RequireClientCert:  require,
		ALPN:               common.alpn,
		AllowedSANs:        common.sans,
		AllowedSANPrefixes: common.sanPrefixes,
		Params:             common.params,
	}, common.validated, nil
}

// decodeUpstreamTLS decodes a cluster's "envoy.transport_sockets.tls" transport socket.
func decodeUpstreamTLS(ts *corev3.TransportSocket, p path) (*config.UpstreamTLS, error) {
	tc, err := tlsSocketConfig(ts, p)
	if err != nil {
		return nil, err
	}
	p = p.field("typed_config")
	ctx := &tlsv3.UpstreamTlsContext{}
	if !tc.MessageIs(ctx) {
		return nil, p.errorf("expected an UpstreamTlsContext, got %q", tc.GetTypeUrl())
	}
	if err := tc.UnmarshalTo(ctx); err != nil {
		return nil, p.errorf("decoding UpstreamTlsContext: %w", err)
	}
	if err := onlyFields(ctx, p, "common_tls_context", "sni"); err != nil {
		return nil, err
	}
	common, err := decodeCommonTLS(ctx.GetCommonTlsContext(), p.field("common_tls_context"))
	if err != nil {
		return nil, err
	}
	if !common.validated {
		return nil, p.field("common_tls_context").errorf(
			"a validation context with the %q secret is required to verify upstream peers", wire.SecretRootCA)
	}
	return &config.UpstreamTLS{
		SNI:                ctx.GetSni(),
		ALPN:               common.alpn,
		AllowedSANs:        common.sans,
		AllowedSANPrefixes: common.sanPrefixes,
		Params:             common.params,
	}, nil
}

// tlsSocketConfig checks that a transport socket is TLS and returns its typed config.
func tlsSocketConfig(ts *corev3.TransportSocket, p path) (*anypb.Any, error) {
	if err := onlyFields(ts, p, "name", "typed_config"); err != nil {
		return nil, err
	}
	tc := ts.GetTypedConfig()
	// Envoy picks the extension by the type of typed_config; the name is informational.
	isTLS := strings.HasPrefix(tc.GetTypeUrl(), typeURLPrefix+"envoy.extensions.transport_sockets.tls.v3.")
	if !isTLS && ts.GetName() != tlsSocketName {
		what := ts.GetName()
		if what == "" {
			what = tc.GetTypeUrl()
		}
		return nil, p.errorf("unsupported transport socket %q (only %q)", what, tlsSocketName)
	}
	if tc == nil {
		return nil, p.field("typed_config").errorf("typed_config is required")
	}
	return tc, nil
}

// decodeCommonTLS checks the certificate (SDS "default"), the validation context (SDS
// "ROOTCA", optionally with URI SAN matchers) and reads the ALPN protocols.
func decodeCommonTLS(c *tlsv3.CommonTlsContext, p path) (commonTLS, error) {
	var out commonTLS
	if c == nil {
		return out, p.errorf("a common_tls_context is required")
	}
	err := onlyFields(c, p, "tls_certificate_sds_secret_configs", "alpn_protocols",
		"combined_validation_context", "validation_context_sds_secret_config", "tls_params")
	if err != nil {
		return out, err
	}
	if out.params, err = decodeTLSParams(c.GetTlsParams(), p.field("tls_params")); err != nil {
		return out, err
	}
	certs := c.GetTlsCertificateSdsSecretConfigs()
	if len(certs) != 1 {
		return out, p.field("tls_certificate_sds_secret_configs").errorf(
			"exactly one SDS certificate (%q) is required, got %d", wire.SecretDefault, len(certs))
	}
	if err := checkSDS(certs[0], p.field("tls_certificate_sds_secret_configs").index(0), wire.SecretDefault); err != nil {
		return out, err
	}
	for i, proto := range c.GetAlpnProtocols() {
		if proto == "" {
			return out, p.field("alpn_protocols").index(i).errorf("empty ALPN protocol")
		}
	}
	out.alpn = c.GetAlpnProtocols()

	switch v := c.GetValidationContextType().(type) {
	case nil:
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		vp := p.field("validation_context_sds_secret_config")
		if err := checkSDS(v.ValidationContextSdsSecretConfig, vp, wire.SecretRootCA); err != nil {
			return out, err
		}
		out.validated = true
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		cp := p.field("combined_validation_context")
		cv := v.CombinedValidationContext
		err := onlyFields(cv, cp, "default_validation_context", "validation_context_sds_secret_config")
		if err != nil {
			return out, err
		}
		if err := checkSDS(cv.GetValidationContextSdsSecretConfig(), cp.field("validation_context_sds_secret_config"), wire.SecretRootCA); err != nil {
			return out, err
		}
		out.sans, out.sanPrefixes, err = decodeSANMatchers(cv.GetDefaultValidationContext(), cp.field("default_validation_context"))
		if err != nil {
			return out, err
		}
		out.validated = true
	}
	return out, nil
}

// checkSDS accepts an SDS secret reference to the given name, fetched over ADS (or with no
// config source: the proxy provides "default" itself).
func checkSDS(s *tlsv3.SdsSecretConfig, p path, want string) error {
	if s == nil {
		return p.errorf("an SDS secret config for %q is required", want)
	}
	if err := onlyFields(s, p, "name", "sds_config"); err != nil {
		return err
	}
	if s.GetName() != want {
		return p.field("name").errorf("SDS secret must be %q, got %q", want, s.GetName())
	}
	if s.GetSdsConfig() != nil {
		if err := checkADS(s.GetSdsConfig(), p.field("sds_config")); err != nil {
			return err
		}
	}
	return nil
}

// decodeSANMatchers reads match_typed_subject_alt_names: URI SANs, exact or prefix.
func decodeSANMatchers(v *tlsv3.CertificateValidationContext, p path) (exact, prefixes []string, err error) {
	if v == nil {
		return nil, nil, nil
	}
	if err := onlyFields(v, p, "match_typed_subject_alt_names"); err != nil {
		return nil, nil, err
	}
	for i, m := range v.GetMatchTypedSubjectAltNames() {
		mp := p.field("match_typed_subject_alt_names").index(i)
		if err := onlyFields(m, mp, "san_type", "matcher"); err != nil {
			return nil, nil, err
		}
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
			return nil, nil, mp.field("san_type").errorf("unsupported SAN type %s (only URI)", m.GetSanType())
		}
		sm := m.GetMatcher()
		if sm == nil {
			return nil, nil, mp.field("matcher").errorf("a matcher is required")
		}
		if err := onlyFields(sm, mp.field("matcher"), "exact", "prefix"); err != nil {
			return nil, nil, err
		}
		switch pat := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			if pat.Exact == "" {
				return nil, nil, mp.field("matcher").field("exact").errorf("empty SAN")
			}
			exact = append(exact, pat.Exact)
		case *matcherv3.StringMatcher_Prefix:
			if pat.Prefix == "" {
				return nil, nil, mp.field("matcher").field("prefix").errorf("empty SAN prefix")
			}
			prefixes = append(prefixes, pat.Prefix)
		default:
			return nil, nil, mp.field("matcher").errorf("exact or prefix is required")
		}
	}
	return exact, prefixes, nil
}

// decodeTrustBundle reads the ROOTCA secret: validation_context.trusted_ca inline, PEM
// certificates only. It returns the certificates re-encoded as PEM.
func decodeTrustBundle(s *tlsv3.Secret, p path) ([]byte, error) {
	if err := onlyFields(s, p, "name", "validation_context"); err != nil {
		return nil, err
	}
	vc := s.GetValidationContext()
	if vc == nil {
		return nil, p.field("validation_context").errorf("a validation_context is required")
	}
	p = p.field("validation_context")
	if err := onlyFields(vc, p, "trusted_ca"); err != nil {
		return nil, err
	}
	ds := vc.GetTrustedCa()
	if ds == nil {
		return nil, p.field("trusted_ca").errorf("trusted_ca is required")
	}
	p = p.field("trusted_ca")
	if err := onlyFields(ds, p, "inline_bytes", "inline_string"); err != nil {
		return nil, err
	}
	var data []byte
	switch v := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		data = v.InlineBytes
	case *corev3.DataSource_InlineString:
		data = []byte(v.InlineString)
	default:
		return nil, p.errorf("inline_bytes or inline_string is required")
	}
	var out []byte
	rest := data
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, p.errorf("PEM block %d is a %q, want CERTIFICATE", i, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, p.errorf("PEM block %d: %w", i, err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})...)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, p.errorf("trailing data that is not PEM")
	}
	if len(out) == 0 {
		return nil, p.errorf("no PEM certificate")
	}
	return out, nil
}
