package xdsclient

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// xDS type URLs of the resources the proxy consumes.
const (
	typeURLPrefix   = "type.googleapis.com/"
	TypeListener    = typeURLPrefix + "envoy.config.listener.v3.Listener"
	TypeCluster     = typeURLPrefix + "envoy.config.cluster.v3.Cluster"
	TypeRoute       = typeURLPrefix + "envoy.config.route.v3.RouteConfiguration"
	TypeEndpoint    = typeURLPrefix + "envoy.config.endpoint.v3.ClusterLoadAssignment"
	TypeSecret      = typeURLPrefix + "envoy.extensions.transport_sockets.tls.v3.Secret"
	wildcardName    = "*"
	tlsSocketName   = "envoy.transport_sockets.tls"
	hcmFilterName   = "envoy.filters.network.http_connection_manager"
	tcpFilterName   = "envoy.filters.network.tcp_proxy"
	routerName      = "envoy.filters.http.router"
	tlsInspector    = "envoy.filters.listener.tls_inspector"
	httpOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// path is the location of a field inside a resource, in the proto field names of the xDS
// API, e.g. "filter_chains[0].filters[1]". Error messages lead with it so that a NACK names the
// field that was refused.
type path string

func (p path) field(name string) path {
	if p == "" {
		return path(name)
	}
	return p + "." + path(name)
}

func (p path) index(i int) path { return p + path("["+strconv.Itoa(i)+"]") }

func (p path) key(k string) path { return p + path("["+strconv.Quote(k)+"]") }

// errorf returns an error prefixed by the path.
func (p path) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if p == "" {
		return err
	}
	return fmt.Errorf("%s: %w", p, err)
}

// onlyFields refuses a message that sets a field outside allowed (proto field names). Fields at
// their default value are not "set" in proto3 and pass. Fields unknown to this build of the
// protos are refused too: the proxy cannot honour what it cannot read.
func onlyFields(m proto.Message, p path, allowed ...string) error {
	if m == nil {
		return nil
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	var bad []string
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if name := string(fd.Name()); !slices.Contains(allowed, name) {
			bad = append(bad, name)
		}
		return true
	})
	if len(bad) > 0 {
		slices.Sort(bad)
		return p.errorf("unsupported field %q", bad[0])
	}
	if len(r.GetUnknown()) > 0 {
		return p.errorf("unknown fields (sent by a newer xDS API than this proxy knows)")
	}
	return nil
}

// checkADS accepts a config source that points at the ADS stream.
func checkADS(cs *corev3.ConfigSource, p path) error {
	if cs == nil {
		return p.errorf("a config source is required (ads)")
	}
	if err := onlyFields(cs, p, "ads", "resource_api_version", "initial_fetch_timeout"); err != nil {
		return err
	}
	if cs.GetAds() == nil {
		return p.errorf("only ADS config sources are supported")
	}
	if v := cs.GetResourceApiVersion(); v != corev3.ApiVersion_AUTO && v != corev3.ApiVersion_V3 {
		return p.field("resource_api_version").errorf("unsupported API version %s", v)
	}
	return nil
}

// socketAddress decodes a TCP socket address with a literal IP into host:port. allowPortZero
// permits port 0 (a listener on an ephemeral port).
func socketAddress(a *corev3.Address, p path, allowPortZero bool) (string, error) {
	if a == nil {
		return "", p.errorf("an address is required")
	}
	if err := onlyFields(a, p, "socket_address"); err != nil {
		return "", err
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", p.errorf("a socket_address is required")
	}
	p = p.field("socket_address")
	if err := onlyFields(sa, p, "protocol", "address", "port_value"); err != nil {
		return "", err
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", p.field("protocol").errorf("unsupported protocol %s", sa.GetProtocol())
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return "", p.field("address").errorf("address %q is not an IP address", sa.GetAddress())
	}
	if ip.Zone() != "" {
		return "", p.field("address").errorf("address %q: zones are not supported", sa.GetAddress())
	}
	port := sa.GetPortValue()
	if port > 65535 || (port == 0 && !allowPortZero) {
		return "", p.field("port_value").errorf("port %d is out of range 1-65535", port)
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(uint64(port), 10)), nil
}
