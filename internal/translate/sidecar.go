package translate

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// outboundBindAddress is where a sidecar's outbound listeners listen.
const outboundBindAddress = "127.0.0.1"

// sidecar builds the inbound listener and clusters for the apps, and an outbound listener per
// declared upstream with the routes, clusters and endpoints it reaches.
func (b *builder) sidecar() error {
	if err := b.inbound(); err != nil {
		return err
	}
	ups := slices.Clone(b.proxy.Meta.Upstreams)
	slices.SortFunc(ups, func(x, y wire.Upstream) int {
		return cmp.Or(cmp.Compare(x.Key(), y.Key()), cmp.Compare(x.LocalPort, y.LocalPort))
	})
	for i, u := range ups {
		if i > 0 && ups[i-1].Key() == u.Key() {
			continue // the same upstream twice: the first local port wins
		}
		if err := b.outbound(u); err != nil {
			return err
		}
	}
	return nil
}

// inbound builds the inbound listeners: one filter chain per app port, selected by the SNI
// p<port>.inbound.weft, forwarding to the cluster inbound|<port> (the local app), laid out
// by each port's mutual TLS mode (see inboundPlan).
func (b *builder) inbound() error {
	meta := b.proxy.Meta
	if len(meta.Apps) == 0 || meta.InboundPort == 0 {
		return nil
	}
	apps := slices.Clone(meta.Apps)
	slices.SortStableFunc(apps, func(x, y wire.AppPort) int { return cmp.Compare(x.Port, y.Port) })
	l := &listenerv3.Listener{
		Name:    wire.InboundListenerName,
		Address: socketAddress(bindAddress(meta.Address), meta.InboundPort),
	}
	plan := &inboundPlan{b: b}
	for i, app := range apps {
		if i > 0 && apps[i-1].Port == app.Port {
			continue // the same port twice: the first target wins
		}
		protocol := v1alpha1.ProtocolHTTP
		_, sp, ok := b.servicePort(meta.Namespace, meta.Service, app.Port)
		if ok {
			protocol = appProtocol(sp)
		}
		host, portStr, err := net.SplitHostPort(app.Target)
		if err != nil {
			return fmt.Errorf("app port %d: target %q: %w", app.Port, app.Target, err)
		}
		targetPort, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || targetPort == 0 {
			return fmt.Errorf("app port %d: target %q: port is not in 1-65535", app.Port, app.Target)
		}
		clusterName := wire.InboundClusterName(app.Port)
		c, err := b.staticCluster(clusterName, host, int32(targetPort), protocol)
		if err != nil {
			return err
		}
		b.res.Clusters = append(b.res.Clusters, c)

		chain, err := b.inboundChain(app.Port, protocol, clusterName)
		if err != nil {
			return err
		}
		plan.add(app, sp, chain)
	}
	listeners, err := plan.listeners(l)
	if err != nil {
		return err
	}
	b.res.Listeners = append(b.res.Listeners, listeners...)
	return nil
}

// inboundChain terminates mutual TLS for one app port, accepting any identity of the trust
// domain, and forwards HTTP or bytes to the app's cluster.
func (b *builder) inboundChain(port int32, protocol, cluster string) (*listenerv3.FilterChain, error) {
	ts, err := tlsTransportSocket(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: b.withTLSParams(commonTLS(
			[]string{wire.ALPNHTTP2, wire.ALPNHTTP11, wire.ALPNTCP},
			[]*tlsv3.SubjectAltNameMatcher{uriSANPrefix("spiffe://" + b.trustDomain + "/")},
		)),
	})
	if err != nil {
		return nil, err
	}
	name := wire.InboundClusterName(port)
	statPrefix := fmt.Sprintf("inbound_%d", port)
	authz, err := b.inboundAuthz(port, protocol)
	if err != nil {
		return nil, err
	}
	var filter *listenerv3.Filter
	if protocol == v1alpha1.ProtocolTCP {
		filter, err = tcpProxyFilter(statPrefix, cluster)
	} else {
		filter, err = hcmFilter(hcmConfig{statPrefix: statPrefix, authz: authz.http, inline: &routev3.RouteConfiguration{
			Name: name,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    name,
				Domains: []string{"*"},
				Routes:  []*routev3.Route{clusterRoute("default", prefixMatch("/"), cluster)},
			}},
		}})
	}
	if err != nil {
		return nil, err
	}
	return &listenerv3.FilterChain{
		Name:             name,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{wire.InboundSNI(port)}},
		Filters:          append(authz.network, filter),
		TransportSocket:  ts,
	}, nil
}

// outbound builds the listener of one upstream on 127.0.0.1:localPort: HTTP with the route
// configuration "<svc>.<ns>:<port>", or TCP straight to the service's cluster. An upstream
// whose Service or port does not exist (yet) gets nothing.
func (b *builder) outbound(u wire.Upstream) error {
	svc, sp, ok := b.servicePort(u.Namespace, u.Service, u.Port)
	if !ok || u.LocalPort == 0 {
		return nil
	}
	key := u.Key()
	statPrefix := "outbound_" + key
	var filter *listenerv3.Filter
	var err error
	if appProtocol(sp) == v1alpha1.ProtocolTCP {
		cluster := b.useCluster(u.Namespace, u.Service, svc, sp)
		filter, err = tcpProxyFilter(statPrefix, cluster)
	} else {
		var rc *routev3.RouteConfiguration
		rc, err = b.serviceRouteConfig(key, mesh.NamespacedName{Namespace: u.Namespace, Name: u.Service}, svc, sp)
		if err != nil {
			return err
		}
		b.res.Routes = append(b.res.Routes, rc)
		filter, err = hcmFilter(hcmConfig{statPrefix: statPrefix, rds: key})
	}
	if err != nil {
		return err
	}
	b.res.Listeners = append(b.res.Listeners, &listenerv3.Listener{
		Name:         wire.OutboundListenerName(u),
		Address:      socketAddress(outboundBindAddress, u.LocalPort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
	})
	return nil
}

// proxylessListeners builds, for each target a proxyless gRPC client asked for, an API listener whose
// HttpConnectionManager uses the route configuration of the same name, with plaintext clusters
// reaching proxyless workloads.
func (b *builder) proxylessListeners() error {
	seen := map[string]bool{}
	for _, u := range b.proxy.Meta.Upstreams {
		key := u.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		svc, sp, ok := b.servicePort(u.Namespace, u.Service, u.Port)
		if !ok || appProtocol(sp) == v1alpha1.ProtocolTCP {
			continue
		}
		rc, err := b.serviceRouteConfig(key, mesh.NamespacedName{Namespace: u.Namespace, Name: u.Service}, svc, sp)
		if err != nil {
			return err
		}
		b.res.Routes = append(b.res.Routes, rc)
		m, err := httpConnectionManager(hcmConfig{statPrefix: "proxyless_" + key, rds: key})
		if err != nil {
			return err
		}
		a, err := toAny(m)
		if err != nil {
			return err
		}
		b.res.Listeners = append(b.res.Listeners, &listenerv3.Listener{
			Name:        key,
			ApiListener: &listenerv3.ApiListener{ApiListener: a},
		})
	}
	return nil
}

// bindAddress defaults an empty listener address to all interfaces.
func bindAddress(a string) string {
	if a == "" {
		return "0.0.0.0"
	}
	return a
}
