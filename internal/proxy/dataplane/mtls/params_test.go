package mtls

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/weftmesh/weft/internal/proxy/config"
)

func TestApplyParams(t *testing.T) {
	tests := []struct {
		name     string
		p        *config.TLSParams
		min, max uint16
		suites   []uint16
	}{
		{name: "default is TLS 1.3 only", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "TLS 1.2 restricts to ECDHE AEAD", p: &config.TLSParams{MinVersion: tls.VersionTLS12},
			min: tls.VersionTLS12, max: tls.VersionTLS13, suites: aeadSuites},
		{name: "TLS 1.2 with named suites", p: &config.TLSParams{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			min: tls.VersionTLS12, max: tls.VersionTLS13, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		{name: "TLS 1.2 only", p: &config.TLSParams{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12},
			min: tls.VersionTLS12, max: tls.VersionTLS12, suites: aeadSuites},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &tls.Config{CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
			Apply(c, tt.p)
			if c.MinVersion != tt.min || c.MaxVersion != tt.max || !slices.Equal(c.CipherSuites, tt.suites) {
				t.Errorf("config = min %x max %x suites %x; want %x %x %x", c.MinVersion, c.MaxVersion, c.CipherSuites, tt.min, tt.max, tt.suites)
			}
		})
	}
	if ParamsKey(nil) == ParamsKey(&config.TLSParams{MinVersion: tls.VersionTLS12}) || ParamsKey(nil) != ParamsKey(&config.TLSParams{}) {
		t.Error("ParamsKey does not tell TLS 1.3 from TLS 1.2")
	}
}
