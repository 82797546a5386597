package config

import (
	"crypto/tls"
	"time"
)

// TLSVersion is a TLS protocol version, as crypto/tls numbers them (tls.VersionTLS12,
// tls.VersionTLS13).
type TLSVersion uint16

// String renders "1.2" or "1.3".
func (v TLSVersion) String() string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	case 0:
		return "default"
	}
	return "unknown"
}

// TLSParams are the TLS versions and TLS 1.2 cipher suites one side of the mesh link accepts.
type TLSParams struct {
	// MinVersion is the lowest version accepted; zero means TLS 1.3.
	MinVersion TLSVersion
	// MaxVersion is the highest version offered; zero means TLS 1.3.
	MaxVersion TLSVersion
	// CipherSuites are the TLS 1.2 cipher suites accepted (crypto/tls IDs), in order of
	// preference; empty means every ECDHE AEAD suite. TLS 1.3 suites are not configurable.
	CipherSuites []uint16
}

// Detection is how a listener tells TLS from plaintext: the tls_inspector listener filter reads
// the first bytes of each connection for a TLS ClientHello.
type Detection struct {
	// Timeout bounds the wait for those bytes (listener_filters_timeout); zero means the data
	// plane's handshake timeout.
	Timeout time.Duration
	// ContinueOnTimeout: a connection that sent nothing within Timeout goes on as plaintext
	// (continue_on_listener_filters_timeout), as a client of a protocol where the server
	// speaks first does. Otherwise it is closed.
	ContinueOnTimeout bool
}

// Transport protocols a filter chain matches (FilterChain.TransportProtocol).
const (
	// TransportAny matches every connection.
	TransportAny = ""
	// TransportTLS matches connections that start with a TLS ClientHello.
	TransportTLS = "tls"
	// TransportRaw matches the others (plaintext).
	TransportRaw = "raw_buffer"
)
