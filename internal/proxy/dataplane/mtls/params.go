package mtls

import (
	"crypto/tls"
	"fmt"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// aeadSuites are the TLS 1.2 cipher suites used when a config allows TLS 1.2 without naming
// any: ECDHE key exchange with an AEAD cipher only.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Versions returns the minimum and maximum TLS versions of p: TLS 1.3 where p says nothing.
func Versions(p *config.TLSParams) (minVersion, maxVersion uint16) {
	minVersion, maxVersion = tls.VersionTLS13, tls.VersionTLS13
	if p == nil {
		return minVersion, maxVersion
	}
	if p.MinVersion != 0 {
		minVersion = uint16(p.MinVersion)
	}
	if p.MaxVersion != 0 {
		maxVersion = uint16(p.MaxVersion)
	}
	return minVersion, maxVersion
}

// Apply sets the versions and TLS 1.2 cipher suites of p (nil: TLS 1.3 only) on c.
func Apply(c *tls.Config, p *config.TLSParams) {
	c.MinVersion, c.MaxVersion = Versions(p)
	c.CipherSuites = nil
	if c.MinVersion <= tls.VersionTLS12 {
		c.CipherSuites = aeadSuites
		if p != nil && len(p.CipherSuites) > 0 {
			c.CipherSuites = p.CipherSuites
		}
	}
}

// ParamsKey renders p for keys that must change when the TLS parameters do.
func ParamsKey(p *config.TLSParams) string {
	minVersion, maxVersion := Versions(p)
	var suites []uint16
	if p != nil {
		suites = p.CipherSuites
	}
	return fmt.Sprintf("%x-%x-%x", minVersion, maxVersion, suites)
}
