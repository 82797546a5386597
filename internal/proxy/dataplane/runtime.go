// Package dataplane is the proxy's data plane runtime: it turns a *config.Config into listening
// sockets and forwarded traffic, and swaps configs atomically without dropping what is in
// flight.
//
// Per connection: TLS listeners terminate mutual TLS (chain chosen by SNI, peer verified against
// the trust bundle and the chain's allowed SPIFFE IDs) and dispatch by ALPN; plaintext
// listeners sniff the HTTP/2 preface. HTTP/1.1 whose routes reach only HTTP/1.1 clusters takes
// the fast path (package http1); HTTP/2, h2c and HTTP/1.1 to HTTP/2 clusters take net/http
// (package h2); TCP chains are forwarded byte for byte (package tcp). Routing is package
// router; upstream endpoints and their pools are package cluster.
package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/proxy/authz"
	"github.com/weftmesh/weft/internal/proxy/cluster"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// CertSource provides the proxy's current certificate (leaf, chain and key). It may return a
// different certificate over time (rotation): new handshakes use the new one.
type CertSource interface {
	Certificate() *tls.Certificate
}

// Config configures a Runtime.
type Config struct {
	// Certs provides the proxy's certificate for mutual TLS (required).
	Certs CertSource
	// Logger (nil discards).
	Logger *slog.Logger
	// Stats receives the data plane's metrics (nil: metrics are kept but not exported).
	Stats *stats.Registry
	// ListenerDrainTimeout bounds how long the connections of a listener removed by a config
	// update may take to finish (default 30s).
	ListenerDrainTimeout time.Duration
	// HandshakeTimeout bounds a downstream TLS handshake and protocol sniffing (default 10s).
	HandshakeTimeout time.Duration
	// MaxIdlePerEndpoint bounds the idle connections pooled per upstream endpoint (default 64).
	MaxIdlePerEndpoint int
}

// Validate checks cfg and fills in defaults.
func (c *Config) Validate() error {
	if c.Certs == nil {
		return errors.New("dataplane config: Certs is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ListenerDrainTimeout <= 0 {
		c.ListenerDrainTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxIdlePerEndpoint <= 0 {
		c.MaxIdlePerEndpoint = cluster.DefaultMaxIdlePerEndpoint
	}
	return nil
}

// ErrClosed is returned by Apply after Drain or Close.
var ErrClosed = errors.New("data plane runtime is closed")

// Runtime runs a proxy's listeners and clusters for the config in force.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	met   *metrics
	copts cluster.Options
	authz *authz.Reporter // logs and counts authorization decisions

	state atomic.Pointer[state]

	mu        sync.Mutex // serializes Apply, Drain and Close
	closed    bool
	listeners map[string]*listenerRT
	retiring  map[*listenerRT]struct{} // removed listeners still draining
	retired   sync.WaitGroup
	// endpoints removed by an update, closed after a grace period (see retireEndpoints)
	oldEndpoints map[*time.Timer][]*cluster.Endpoint
	// plaintext remembers who sent plaintext to the inbound listeners (see PlaintextReport).
	plaintext *plaintextTable
}

// New returns a Runtime with no listener. Apply starts serving.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	met := newMetrics(cfg.Stats)
	rep := authz.NewReporter(cfg.Logger, met.reg)
	r := &Runtime{
		cfg:       cfg,
		log:       cfg.Logger,
		met:       met,
		authz:     rep,
		listeners: make(map[string]*listenerRT),
		retiring:  make(map[*listenerRT]struct{}),

		oldEndpoints: make(map[*time.Timer][]*cluster.Endpoint),
		plaintext:    newPlaintextTable(time.Now, maxPlaintextSources),
	}
	r.copts = cluster.Options{
		Certificate:        cfg.Certs.Certificate,
		TrustPool:          r.trustPool,
		TrustID:            r.trustID,
		Gauge:              met.upstreamGauge,
		MaxIdlePerEndpoint: cfg.MaxIdlePerEndpoint,
		Logger:             cfg.Logger,
	}
	return r, nil
}

func (r *Runtime) trustID() string {
	if st := r.state.Load(); st != nil {
		return st.trustID
	}
	return ""
}

func (r *Runtime) trustPool() *x509.CertPool {
	if st := r.state.Load(); st != nil {
		return st.trust
	}
	return nil
}

// Apply validates c against the running state, binds listeners that are new, swaps c in
// atomically, then closes listeners that are gone. If any step before the swap fails (a bind
// fails, a listener refers to a missing route or cluster), nothing changes and the error names
// it. Connections of kept listeners stay open; their next request uses c.
func (r *Runtime) Apply(c *config.Config) error {
	if c == nil {
		return errors.New("applying config: nil config")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	prev := r.state.Load()
	st, views, err := compile(c, prev, r.copts)
	if err != nil {
		return fmt.Errorf("applying config %q: %w", c.Version, err)
	}
	r.authz.Begin()
	committed := false
	defer func() {
		if !committed {
			r.authz.Abort()
		}
	}()
	if err := r.compileAuthz(views); err != nil {
		return fmt.Errorf("applying config %q: %w", c.Version, err)
	}

	names := make([]string, 0, len(views))
	for name := range views {
		names = append(names, name)
	}
	sort.Strings(names)
	fresh := make(map[string]*listenerRT)
	for _, name := range names {
		v := views[name]
		if old, ok := r.listeners[name]; ok && old.address == v.cfg.Address {
			continue
		}
		l, err := r.newListener(name, v)
		if err != nil {
			for _, f := range fresh {
				f.abort()
			}
			return fmt.Errorf("applying config %q: listener %q: %w", c.Version, name, err)
		}
		fresh[name] = l
	}

	// The swap: from here on nothing fails.
	r.state.Store(st)
	r.authz.Commit()
	committed = true
	st.clusters.Activate()
	for name, old := range r.listeners {
		v, keep := views[name]
		if keep && fresh[name] == nil {
			old.view.Store(v)
			continue
		}
		delete(r.listeners, name)
		r.retire(old)
	}
	for name, l := range fresh {
		r.listeners[name] = l
		l.start()
		r.log.Info("listener started", "listener", name, "address", l.ln.Addr().String())
	}
	if prev != nil {
		r.retireEndpoints(st.clusters.Retired(prev.clusters))
	}
	r.log.Debug("config applied", "version", c.Version, "listeners", len(r.listeners), "clusters", len(c.Clusters))
	return nil
}

// retire drains a removed listener in the background. Called with r.mu held.
func (r *Runtime) retire(l *listenerRT) {
	r.retiring[l] = struct{}{}
	r.retired.Add(1)
	r.log.Info("listener removed, draining", "listener", l.name, "address", l.address)
	go func() {
		defer r.retired.Done()
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ListenerDrainTimeout)
		defer cancel()
		if err := l.drain(ctx); err != nil {
			r.log.Warn("removed listener closed before its connections finished", "listener", l.name, "error", err)
		}
		r.mu.Lock()
		delete(r.retiring, l)
		r.mu.Unlock()
	}()
}

// endpointGrace is how long a removed endpoint stays usable: a request routed just before a
// swap takes its connection from the endpoint a moment later, and must find it open. In-flight
// requests are not bound by it: a closed endpoint lets them finish.
const endpointGrace = 2 * time.Second

// retireEndpoints closes eps after endpointGrace. Called with r.mu held.
func (r *Runtime) retireEndpoints(eps []*cluster.Endpoint) {
	if len(eps) == 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(endpointGrace, func() {
		r.mu.Lock()
		_, pending := r.oldEndpoints[t]
		delete(r.oldEndpoints, t)
		r.mu.Unlock()
		if pending {
			closeEndpoints(eps)
		}
	})
	r.oldEndpoints[t] = eps
}

func closeEndpoints(eps []*cluster.Endpoint) {
	for _, ep := range eps {
		ep.Close()
	}
}

// Current returns the config in force, or nil before the first Apply.
func (r *Runtime) Current() *config.Config {
	if st := r.state.Load(); st != nil {
		return st.cfg
	}
	return nil
}

// ListenerAddr returns the address the named listener is bound to.
func (r *Runtime) ListenerAddr(name string) (net.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.listeners[name]
	if !ok {
		return nil, false
	}
	return l.ln.Addr(), true
}

// Drain stops accepting on every listener, lets in-flight work finish until ctx is done
// (HTTP/1.1 connections finish their request and close, HTTP/2 connections get a GOAWAY, TCP
// connections run to their end), then closes everything. It returns ctx's error if it had to
// cut connections. Apply fails afterwards.
func (r *Runtime) Drain(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	all := r.allListeners()
	r.listeners = make(map[string]*listenerRT)
	r.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(all))
	for i, l := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.drain(ctx)
		}()
	}
	wg.Wait()
	r.waitRetired()
	r.closeClusters()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	return nil
}

// Close closes every listener and connection at once.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	all := r.allListeners()
	r.listeners = make(map[string]*listenerRT)
	r.mu.Unlock()
	for _, l := range all {
		l.close()
	}
	r.waitRetired()
	r.closeClusters()
	return nil
}

// allListeners returns the live and retiring listeners. Called with r.mu held.
func (r *Runtime) allListeners() []*listenerRT {
	all := make([]*listenerRT, 0, len(r.listeners)+len(r.retiring))
	for _, l := range r.listeners {
		all = append(all, l)
	}
	for l := range r.retiring {
		all = append(all, l)
	}
	return all
}

func (r *Runtime) waitRetired() {
	r.mu.Lock()
	for l := range r.retiring {
		l.close()
	}
	r.mu.Unlock()
	r.retired.Wait()
}

func (r *Runtime) closeClusters() {
	r.mu.Lock()
	old := r.oldEndpoints
	r.oldEndpoints = make(map[*time.Timer][]*cluster.Endpoint)
	r.mu.Unlock()
	for t, eps := range old {
		t.Stop()
		closeEndpoints(eps)
	}
	if st := r.state.Load(); st != nil {
		st.clusters.Close()
	}
}

// getCertificate serves the proxy's current certificate to TLS handshakes.
func (r *Runtime) getCertificate() (*tls.Certificate, error) {
	c := r.cfg.Certs.Certificate()
	if c == nil {
		return nil, errors.New("no workload certificate available yet")
	}
	return c, nil
}
