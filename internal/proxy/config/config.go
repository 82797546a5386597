// Package config holds the proxy's running configuration as plain, validated Go values.
//
// The xdsclient package is the only producer: it decodes Envoy xDS resources, validates them and
// builds a Config. Listener, HTTP and cluster code consume a Config and never see a protobuf.
// A Config is immutable once built; an update builds a new one and swaps it in atomically.
package config

import (
	"regexp"
	"time"
)

// Config is one complete, consistent configuration of a proxy.
type Config struct {
	// Version identifies this config (a digest of the xDS versions it was built from).
	Version string
	// Listeners by name.
	Listeners map[string]*Listener
	// Clusters by name.
	Clusters map[string]*Cluster
	// Routes (route configurations) by name; HTTP listeners refer to them by name.
	Routes map[string]*RouteTable
	// TrustBundle is the PEM of the CA certificates peers' certificates must chain to (the
	// "ROOTCA" secret). Empty when the proxy has not received one yet.
	TrustBundle []byte
}

// Listener is one socket the proxy listens on.
type Listener struct {
	Name    string
	Address string // host:port
	// FilterChains: a connection takes the first chain whose match fits (by TLS server name;
	// a chain with no ServerNames matches any). Outbound and gateway listeners have one chain.
	FilterChains []*FilterChain
	// Detection, when set, tells TLS from plaintext by the first bytes (see mtls.go).
	Detection *Detection
}

// FilterChain is what a matched connection runs.
type FilterChain struct {
	Name string
	// ServerNames (SNI) this chain matches; empty matches any.
	ServerNames []string
	// TransportProtocol this chain matches: TransportTLS, TransportRaw or TransportAny.
	TransportProtocol string
	// TLS, when set, terminates mutual TLS with the proxy's own certificate.
	TLS *DownstreamTLS
	// Exactly one of HTTP and TCP is set.
	HTTP *HTTPConnectionManager
	TCP  *TCPProxy
}

// DownstreamTLS is the server side of mutual TLS on a listener.
type DownstreamTLS struct {
	// RequireClientCert refuses a peer without a certificate chaining to the trust bundle.
	RequireClientCert bool
	// ALPN protocols offered, in order of preference.
	ALPN []string
	// AllowedSANs: when non-empty, the peer's URI SAN must equal one of these, or
	AllowedSANs []string
	// start with one of these prefixes (e.g. "spiffe://weft.local/").
	AllowedSANPrefixes []string
	// Params are the TLS versions and cipher suites accepted; nil means TLS 1.3 only.
	Params *TLSParams
}

// HTTPConnectionManager serves HTTP/1.1 and HTTP/2 on a connection and routes each request.
type HTTPConnectionManager struct {
	StatPrefix string
	// RouteName names a RouteTable in Config.Routes, or
	RouteName string
	// Inline is a route table carried in the listener itself.
	Inline *RouteTable
	Authz  *Authz // RBAC filters before the router, if any (see Authz)
}

// TCPProxy forwards the connection's bytes to a cluster.
type TCPProxy struct {
	StatPrefix string
	Cluster    string
	Authz      *Authz // network RBAC filters checked once the connection is up, if any
}

// RouteTable is a route configuration: virtual hosts, each with ordered routes.
type RouteTable struct {
	Name         string
	VirtualHosts []*VirtualHost
}

// VirtualHost groups routes by the request's authority.
type VirtualHost struct {
	Name    string
	Domains []string // "*" matches any authority
	Routes  []*Route
}

// Route is one rule: the first route whose match fits the request is taken.
type Route struct {
	Name  string
	Match RouteMatch
	// Clusters the request is split over by weight. At least one, unless DirectStatus is set.
	Clusters []WeightedCluster
	// DirectStatus, when non-zero, answers the request locally with this status (e.g. 500 when
	// every backend of an HTTPRoute rule has weight 0).
	DirectStatus int
	TotalWeight  uint32
	// Timeout for the whole request; zero means none.
	Timeout time.Duration
}

// RouteMatch: all set conditions must hold. Exactly one path condition is set.
type RouteMatch struct {
	Prefix    string // path prefix ("/" matches all)
	Path      string // exact path
	PathRegex *regexp.Regexp
	Headers   []HeaderMatch
}

// HeaderMatch matches one request header by name (case-insensitive).
type HeaderMatch struct {
	Name    string // lower case
	Exact   string
	Regex   *regexp.Regexp
	Present bool // only checks presence when Exact and Regex are unset
	Invert  bool
}

// WeightedCluster is one backend of a route.
type WeightedCluster struct {
	Name   string
	Weight uint32
}

// Protocol spoken to a cluster's endpoints.
type Protocol int

const (
	HTTP1 Protocol = iota // HTTP/1.1
	HTTP2                 // HTTP/2 (prior knowledge in cleartext; ALPN "h2" over TLS)
	TCP                   // opaque bytes
)

func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case HTTP2:
		return "http2"
	case TCP:
		return "tcp"
	}
	return "unknown"
}

// Cluster is a set of endpoints and how to talk to them.
type Cluster struct {
	Name           string
	Protocol       Protocol
	ConnectTimeout time.Duration
	// TLS, when set, originates mutual TLS to every endpoint with the proxy's own certificate.
	TLS *UpstreamTLS
	// Endpoints (host:port) balanced round-robin.
	Endpoints []Endpoint
}

// Endpoint is one address of a cluster.
type Endpoint struct {
	Address string // host:port
}

// UpstreamTLS is the client side of mutual TLS to a cluster's endpoints.
type UpstreamTLS struct {
	SNI  string
	ALPN []string
	// The peer's URI SAN must equal one of AllowedSANs or start with one of AllowedSANPrefixes.
	AllowedSANs        []string
	AllowedSANPrefixes []string
	// Params are the TLS versions and cipher suites offered; nil means TLS 1.3 only.
	Params *TLSParams
}
