package config

import (
	"crypto/tls"
	"testing"
)

func TestTLSVersionString(t *testing.T) {
	for v, want := range map[TLSVersion]string{0: "default", tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3", tls.VersionTLS10: "unknown"} {
		if got := v.String(); got != want {
			t.Errorf("TLSVersion(%#x).String() = %q, want %q", uint16(v), got, want)
		}
	}
}
