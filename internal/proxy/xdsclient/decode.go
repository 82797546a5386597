package xdsclient

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// kinds names each resource type in messages ("listener \"inbound\": ...").
var kinds = map[string]string{
	TypeListener: "listener",
	TypeCluster:  "cluster",
	TypeRoute:    "route configuration",
	TypeEndpoint: "cluster load assignment",
	TypeSecret:   "secret",
}

// decodeResource decodes and validates one xDS resource of type typeURL named name. The
// result is a *listenerResource, *clusterResource, *config.RouteTable, []config.Endpoint or
// (for the ROOTCA secret) the trust bundle as []byte. The error names the resource and the
// field, e.g. `listener "x": filter_chains[0].filters[0]: unsupported filter "..."`.
func decodeResource(typeURL, name string, res *anypb.Any) (any, error) {
	v, err := decodeAny(typeURL, name, res)
	if err != nil {
		kind, ok := kinds[typeURL]
		if !ok {
			kind = "resource"
		}
		return nil, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return v, nil
}

func decodeAny(typeURL, name string, res *anypb.Any) (any, error) {
	if res.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("resource of type %q in a %q response", res.GetTypeUrl(), typeURL)
	}
	switch typeURL {
	case TypeListener:
		l := &listenerv3.Listener{}
		if err := unmarshalNamed(res, l, name, l.GetName); err != nil {
			return nil, err
		}
		return decodeListener(l)
	case TypeCluster:
		c := &clusterv3.Cluster{}
		if err := unmarshalNamed(res, c, name, c.GetName); err != nil {
			return nil, err
		}
		return decodeCluster(c)
	case TypeRoute:
		rc := &routev3.RouteConfiguration{}
		if err := unmarshalNamed(res, rc, name, rc.GetName); err != nil {
			return nil, err
		}
		return decodeRouteTable(rc, "")
	case TypeEndpoint:
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := unmarshalNamed(res, cla, name, cla.GetClusterName); err != nil {
			return nil, err
		}
		eps, err := decodeEndpoints(cla, "")
		if eps == nil && err == nil {
			eps = []config.Endpoint{}
		}
		return eps, err
	case TypeSecret:
		s := &tlsv3.Secret{}
		if err := unmarshalNamed(res, s, name, s.GetName); err != nil {
			return nil, err
		}
		if name != wire.SecretRootCA {
			return nil, fmt.Errorf("unexpected secret (the proxy only takes %q)", wire.SecretRootCA)
		}
		return decodeTrustBundle(s, "")
	}
	return nil, fmt.Errorf("unsupported resource type %q", typeURL)
}

// unmarshalNamed decodes res into m and checks that the name inside matches the name the
// resource was delivered under.
func unmarshalNamed(res *anypb.Any, m proto.Message, name string, inner func() string) error {
	if err := res.UnmarshalTo(m); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if got := inner(); got != name {
		return fmt.Errorf("name %q inside differs from the resource name", got)
	}
	return nil
}
