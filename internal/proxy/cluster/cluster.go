// Package cluster is the proxy's upstream side: the clusters of a config, round-robin over their
// endpoints, and per endpoint a dialer (TCP plus mutual TLS) and the connection pools built on
// it. Endpoints, with their pools, are kept across config swaps while their address and
// connection settings do not change.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/mtls"
)

// DefaultMaxIdlePerEndpoint is the number of idle upstream connections kept per endpoint.
const DefaultMaxIdlePerEndpoint = 64

// Options are what endpoints need from the proxy.
type Options struct {
	// Certificate returns the proxy's current certificate, presented to TLS upstreams.
	Certificate func() *tls.Certificate
	// TrustPool returns the trust bundle in force; nil trusts nobody.
	TrustPool func() *x509.CertPool
	// TrustID returns an identifier of the trust bundle in force; TLS sessions are resumed
	// only under the bundle they were established under. Nil means one bundle forever.
	TrustID func() string
	// Gauge, if set, returns the gauge of open upstream connections of a cluster.
	Gauge func(cluster string) Gauge
	// MaxIdlePerEndpoint bounds the idle connections pooled per endpoint (default 64).
	MaxIdlePerEndpoint int
	// Logger (nil discards).
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if o.Certificate == nil || o.TrustPool == nil {
		return fmt.Errorf("cluster options: Certificate and TrustPool are required")
	}
	if o.MaxIdlePerEndpoint <= 0 {
		o.MaxIdlePerEndpoint = DefaultMaxIdlePerEndpoint
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Cluster is a named set of endpoints balanced round-robin.
type Cluster struct {
	name      string
	protocol  config.Protocol
	endpoints []*Endpoint
	next      atomic.Uint64
}

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Protocol returns the protocol spoken to the cluster's endpoints.
func (c *Cluster) Protocol() config.Protocol { return c.protocol }

// Endpoints returns the cluster's endpoints.
func (c *Cluster) Endpoints() []*Endpoint { return c.endpoints }

// Pick returns the next endpoint round-robin, or nil when the cluster has none. It is lock-free
// and does not allocate.
func (c *Cluster) Pick() *Endpoint {
	n := uint64(len(c.endpoints))
	switch n {
	case 0:
		return nil
	case 1:
		return c.endpoints[0]
	}
	return c.endpoints[(c.next.Add(1)-1)%n]
}

// Set is the clusters of one config. A Set is immutable once built, except for Activate.
type Set struct {
	clusters  map[string]*Cluster
	endpoints map[string]*Endpoint // by endpoint key
	widen     []widening
}

type widening struct {
	d      *dialer
	policy mtls.SANPolicy
}

// Build makes the Set of cfg, reusing the endpoints of prev (which may be nil) whose address
// and connection settings are unchanged, and whose allowed peer identities are unchanged or
// only widened. Build does not touch prev: if the new Set is dropped, nothing has changed.
func Build(cfg map[string]*config.Cluster, prev *Set, opts Options) (*Set, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	s := &Set{clusters: make(map[string]*Cluster, len(cfg)), endpoints: make(map[string]*Endpoint)}
	names := make([]string, 0, len(cfg))
	for name := range cfg {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := cfg[name]
		if c == nil {
			return nil, fmt.Errorf("cluster %q: nil", name)
		}
		if c.Name != "" && c.Name != name {
			return nil, fmt.Errorf("cluster %q: named %q in its body", name, c.Name)
		}
		cl := &Cluster{name: name, protocol: c.Protocol}
		for i, ep := range c.Endpoints {
			if err := checkAddress(ep.Address); err != nil {
				return nil, fmt.Errorf("cluster %q: endpoints[%d]: %w", name, i, err)
			}
			cl.endpoints = append(cl.endpoints, s.endpoint(name, c, ep.Address, prev, &opts))
		}
		s.clusters[name] = cl
	}
	return s, nil
}

func (s *Set) endpoint(name string, c *config.Cluster, addr string, prev *Set, opts *Options) *Endpoint {
	key := endpointKey(name, c, addr)
	if e, ok := s.endpoints[key]; ok {
		return e
	}
	if prev != nil {
		if e, ok := prev.endpoints[key]; ok && e.d.tls == nil {
			s.endpoints[key] = e
			return e
		} else if ok {
			newPol := policyOf(c.TLS)
			if newPol.Covers(*e.d.policy.Load()) {
				s.endpoints[key] = e
				s.widen = append(s.widen, widening{d: e.d, policy: newPol})
				return e
			}
		}
	}
	var g Gauge
	if opts.Gauge != nil {
		g = opts.Gauge(name)
	}
	e := newEndpoint(c, addr, key, opts, g)
	s.endpoints[key] = e
	return e
}

// endpointKey identifies an endpoint's connections: cluster, address, protocol, timeouts and
// the TLS settings (server name, ALPN, versions and cipher suites) other than the allowed peer
// identities.
func endpointKey(cluster string, c *config.Cluster, addr string) string {
	var b strings.Builder
	b.WriteString(cluster)
	b.WriteByte('|')
	b.WriteString(addr)
	b.WriteByte('|')
	b.WriteString(c.Protocol.String())
	b.WriteByte('|')
	b.WriteString(c.ConnectTimeout.String())
	if t := c.TLS; t != nil {
		b.WriteString("|tls|")
		b.WriteString(t.SNI)
		b.WriteByte('|')
		b.WriteString(strings.Join(t.ALPN, ","))
		b.WriteByte('|')
		b.WriteString(mtls.ParamsKey(t.Params))
	}
	return b.String()
}

func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: empty host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}

// Cluster returns the named cluster.
func (s *Set) Cluster(name string) (*Cluster, bool) {
	c, ok := s.clusters[name]
	return c, ok
}

// Activate makes the set's peer-identity policies current on the endpoints it shares with the
// set it replaces. Call it once the set is in force.
func (s *Set) Activate() {
	for _, w := range s.widen {
		p := w.policy
		w.d.policy.Store(&p)
	}
	s.widen = nil
}

// Retired returns the endpoints of prev that s does not keep. They should be closed once s is
// in force.
func (s *Set) Retired(prev *Set) []*Endpoint {
	if prev == nil {
		return nil
	}
	var out []*Endpoint
	for key, e := range prev.endpoints {
		if s.endpoints[key] != e {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Endpoint) int { return strings.Compare(a.key, b.key) })
	return out
}

// Close closes every endpoint of the set.
func (s *Set) Close() {
	for _, e := range s.endpoints {
		e.Close()
	}
}

// Dial opens a connection to the endpoint (with mutual TLS when the cluster has TLS).
func (e *Endpoint) Dial(ctx context.Context) (net.Conn, error) { return e.d.dial(ctx) }
