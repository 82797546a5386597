// Package wire is the contract between weftd and its proxies: the workload registration, the
// xDS node metadata a proxy sends, and the names of the xDS resources translate emits and the
// proxy consumes (documented in docs/xds.md). It imports nothing of either side.
package wire

import "fmt"

// Proxy modes, sent in the xDS node metadata field "mode".
const (
	ModeSidecar   = "sidecar"
	ModeGateway   = "gateway"
	ModeProxyless = "proxyless" // a gRPC client using grpc-go's xds resolver; the default when no metadata
)

// ProxyMeta is what a proxy tells weftd about itself in the xDS Node metadata (a
// google.protobuf.Struct whose fields are the JSON form of this struct). Translate turns a mesh
// snapshot plus a ProxyMeta into the proxy's xDS resources.
type ProxyMeta struct {
	Mode           string `json:"mode"`
	WorkloadID     string `json:"workloadID,omitempty"`
	Service        string `json:"service,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Address is the IP the inbound listener binds (sidecar) or the gateway listeners bind.
	Address string `json:"address,omitempty"`
	// InboundPort is the sidecar's mutual-TLS inbound listener port.
	InboundPort int32 `json:"inboundPort,omitempty"`
	// Apps maps the service ports this workload serves to the local application.
	Apps []AppPort `json:"apps,omitempty"`
	// Upstreams are the services this workload calls, each on a local outbound port.
	Upstreams []Upstream `json:"upstreams,omitempty"`
	// Gateway names the Gateway resource (namespace from Namespace) a gateway-mode proxy serves.
	Gateway string `json:"gateway,omitempty"`
	// Version is the weft-proxy build version.
	Version string `json:"version,omitempty"`
}

// AppPort maps one service port to the local application address.
type AppPort struct {
	Port   int32  `json:"port"`
	Target string `json:"target"` // host:port of the application, e.g. 127.0.0.1:9001
	// InboundPort, when set, is the port of this service port's own inbound listener.
	InboundPort int32 `json:"inboundPort,omitempty"`
}

// Upstream is a service a sidecar calls through a local outbound listener.
type Upstream struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Port      int32  `json:"port"`
	// LocalPort is the port of the outbound listener on 127.0.0.1.
	LocalPort int32 `json:"localPort"`
}

// Key is "<service>.<namespace>:<port>", the name of the upstream's outbound listener,
// route configuration and (for proxyless clients) the xds:/// target.
func (u Upstream) Key() string { return HostPort(u.Service, u.Namespace, u.Port) }

// HostPort returns "<service>.<namespace>:<port>".
func HostPort(service, namespace string, port int32) string {
	return fmt.Sprintf("%s.%s:%d", service, namespace, port)
}

// Resource names shared by translate (control plane) and xdsclient (proxy). They are the
// documented contract of docs/xds.md.

// InboundListenerName is the name of a sidecar's inbound listener.
const InboundListenerName = "inbound"

// OutboundListenerName names the outbound listener of an upstream.
func OutboundListenerName(u Upstream) string { return "outbound|" + u.Key() }

// GatewayListenerName names a gateway's listener on a port.
func GatewayListenerName(port int32) string { return fmt.Sprintf("gateway|%d", port) }

// GatewayRouteName names the route configuration of a gateway listener.
func GatewayRouteName(namespace, gateway string, port int32) string {
	return fmt.Sprintf("gateway|%s/%s|%d", namespace, gateway, port)
}

// OutboundClusterName names the cluster of a service port: "outbound|<port>||<service>.<namespace>".
func OutboundClusterName(service, namespace string, port int32) string {
	return fmt.Sprintf("outbound|%d||%s.%s", port, service, namespace)
}

// InboundClusterName names the cluster that reaches the local application on a service port.
func InboundClusterName(port int32) string { return fmt.Sprintf("inbound|%d", port) }

// InboundSNI is the TLS server name a calling proxy sends to select the service port on the
// called proxy's inbound listener.
func InboundSNI(port int32) string { return fmt.Sprintf("p%d.inbound.weft", port) }

// SDS secret names. "default" is the proxy's own certificate: the proxy makes it from its own
// key and a CSR, so weftd never serves it. "ROOTCA" is the trust bundle, served by weftd.
const (
	SecretDefault = "default"
	SecretRootCA  = "ROOTCA"
)

// ALPN protocol names on the mesh link between proxies.
const (
	ALPNHTTP11 = "http/1.1"
	ALPNHTTP2  = "h2"
	ALPNTCP    = "weft-tcp"
)
