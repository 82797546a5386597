package dataplane

import (
	"crypto/x509"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/weftmesh/weft/internal/proxy/cluster"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/mtls"
	"github.com/weftmesh/weft/internal/proxy/router"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// state is one applied configuration in runnable form.
type state struct {
	cfg   *config.Config
	trust *x509.CertPool
	// trustID identifies the trust bundle: TLS sessions are resumed only under the bundle
	// they were established under (see mtls.TrustID).
	trustID  string
	clusters *cluster.Set
}

// routeTable is a route table whose routes lead to clusters.
type routeTable = router.Table[*cluster.Cluster]

// listenerView is a listener's config compiled against one state.
type listenerView struct {
	cfg    *config.Listener
	st     *state
	chains []*chainView
	tls    bool       // the listener terminates TLS
	detect *detection // set when the listener tells TLS from plaintext by the first bytes
}

// chainView is a compiled filter chain.
type chainView struct {
	name string
	// port is the service port the chain serves (see chainPort): what a destination_port
	// permission matches, and the port plaintext connections are counted under.
	port        int32
	serverNames []string
	tls         *config.DownstreamTLS
	transport   string // the transport protocol the chain matches (config.Transport*)
	sans        mtls.SANPolicy
	table       *routeTable      // HTTP chains
	tcp         *cluster.Cluster // TCP chains
	authz       *chainAuthz      // the chain's authorization, if any
	// plaintext counts the plaintext connections the chain serves; nil until the first one
	// (see notePlaintext). A chain belongs to one listener view, so to one listener name.
	plaintext atomic.Pointer[stats.Counter]
	// fastH1: every cluster the routes reach speaks HTTP/1.1, so HTTP/1.1 downstream
	// connections can take the fast path.
	fastH1 bool
}

// chainFor returns the first chain matching the TLS server name (empty for plaintext, or
// plaintextSNI for plaintext on a listener that tells TLS from plaintext), or nil.
func (v *listenerView) chainFor(sni string) *chainView {
	if sni == plaintextSNI {
		if v.detect != nil {
			return v.detect.plain
		}
		return nil
	}
	for _, c := range v.chains {
		if c.tls == nil && v.detect != nil {
			continue // on a listener that tells them apart, a plaintext chain takes no TLS
		}
		if len(c.serverNames) == 0 {
			return c
		}
		for _, n := range c.serverNames {
			if serverNameMatches(n, sni) {
				return c
			}
		}
	}
	return nil
}

// serverNameMatches compares a chain's server name ("*.example.com" allowed) with a client's.
func serverNameMatches(pattern, sni string) bool {
	if strings.HasPrefix(pattern, "*.") {
		suffix := pattern[1:]
		return len(sni) > len(suffix) && strings.EqualFold(sni[len(sni)-len(suffix):], suffix)
	}
	return strings.EqualFold(pattern, sni)
}

// compile builds the state and listener views of c, reusing prev's endpoints. It changes
// nothing: on error the result is simply dropped.
func compile(c *config.Config, prev *state, opts cluster.Options) (*state, map[string]*listenerView, error) {
	trust, err := mtls.ParseBundle(c.TrustBundle)
	if err != nil {
		return nil, nil, err
	}
	var prevSet *cluster.Set
	if prev != nil {
		prevSet = prev.clusters
	}
	set, err := cluster.Build(c.Clusters, prevSet, opts)
	if err != nil {
		return nil, nil, err
	}
	st := &state{cfg: c, trust: trust, trustID: mtls.TrustID(c.TrustBundle), clusters: set}
	b := &viewBuilder{st: st, tables: make(map[string]*routeTable)}
	names := make([]string, 0, len(c.Listeners))
	for name := range c.Listeners {
		names = append(names, name)
	}
	sort.Strings(names)
	views := make(map[string]*listenerView, len(names))
	for _, name := range names {
		v, err := b.listener(name, c.Listeners[name])
		if err != nil {
			return nil, nil, fmt.Errorf("listener %q: %w", name, err)
		}
		views[name] = v
	}
	return st, views, nil
}

type viewBuilder struct {
	st     *state
	tables map[string]*routeTable
}

func (b *viewBuilder) listener(name string, l *config.Listener) (*listenerView, error) {
	if l == nil {
		return nil, fmt.Errorf("nil")
	}
	if l.Name != "" && l.Name != name {
		return nil, fmt.Errorf("named %q in its body", l.Name)
	}
	if err := checkListenAddress(l.Address); err != nil {
		return nil, err
	}
	if len(l.FilterChains) == 0 {
		return nil, fmt.Errorf("no filter chain")
	}
	v := &listenerView{cfg: l, st: b.st, tls: l.FilterChains[0] != nil && l.FilterChains[0].TLS != nil}
	for i, fc := range l.FilterChains {
		cv, err := b.chain(fc, l.Address)
		if err != nil {
			return nil, fmt.Errorf("filter_chains[%d]: %w", i, err)
		}
		if (cv.tls != nil) != v.tls && l.Detection == nil {
			return nil, fmt.Errorf("filter_chains[%d]: mixes TLS and plaintext chains on a listener that does not tell them apart", i)
		}
		if cv.tls == nil && len(cv.serverNames) > 0 {
			return nil, fmt.Errorf("filter_chains[%d]: server names need TLS", i)
		}
		v.chains = append(v.chains, cv)
	}
	v.detect = compileDetection(l, v.chains)
	return v, nil
}

// chain compiles a filter chain of the listener at address.
func (b *viewBuilder) chain(fc *config.FilterChain, address string) (*chainView, error) {
	if fc == nil {
		return nil, fmt.Errorf("nil")
	}
	cv := &chainView{
		name: fc.Name, port: chainPort(fc.Name, address), serverNames: fc.ServerNames,
		tls: fc.TLS, transport: fc.TransportProtocol,
	}
	if fc.TLS != nil {
		cv.sans = mtls.SANPolicy{Exact: fc.TLS.AllowedSANs, Prefixes: fc.TLS.AllowedSANPrefixes}
	}
	switch {
	case fc.HTTP != nil && fc.TCP != nil:
		return nil, fmt.Errorf("both an HTTP connection manager and a TCP proxy")
	case fc.HTTP != nil:
		t, err := b.table(fc.HTTP)
		if err != nil {
			return nil, err
		}
		cv.table = t
		cv.fastH1 = true
		for _, cl := range t.Backends() {
			if cl.Protocol() != config.HTTP1 {
				cv.fastH1 = false
			}
		}
	case fc.TCP != nil:
		cl, ok := b.st.clusters.Cluster(fc.TCP.Cluster)
		if !ok {
			return nil, fmt.Errorf("tcp proxy: cluster %q not found", fc.TCP.Cluster)
		}
		cv.tcp = cl
	default:
		return nil, fmt.Errorf("neither an HTTP connection manager nor a TCP proxy")
	}
	return cv, nil
}

func (b *viewBuilder) table(h *config.HTTPConnectionManager) (*routeTable, error) {
	resolve := func(name string) (*cluster.Cluster, error) {
		cl, ok := b.st.clusters.Cluster(name)
		if !ok {
			return nil, fmt.Errorf("cluster %q not found", name)
		}
		return cl, nil
	}
	switch {
	case h.Inline != nil:
		return router.Compile(h.Inline, resolve)
	case h.RouteName == "":
		return nil, fmt.Errorf("HTTP connection manager has neither a route name nor inline routes")
	}
	if t, ok := b.tables[h.RouteName]; ok {
		return t, nil
	}
	rt, ok := b.st.cfg.Routes[h.RouteName]
	if !ok || rt == nil {
		return nil, fmt.Errorf("route table %q not found", h.RouteName)
	}
	t, err := router.Compile(rt, resolve)
	if err != nil {
		return nil, err
	}
	b.tables[h.RouteName] = t
	return t, nil
}

func checkListenAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}
