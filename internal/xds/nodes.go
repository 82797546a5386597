package xds

import (
	"cmp"
	"context"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/translate"
	"github.com/weftmesh/weft/internal/wire"
)

// node is a connected proxy: one xDS node ID with one or more open streams.
type node struct {
	id   string
	meta wire.ProxyMeta
	// streams open for this node.
	streams map[streamKey]*stream
	// rev counts changes of the node's own inputs (metadata, proxyless subscriptions).
	rev uint64
	// gen and computedRev are the snapshot generation and rev its resources were last
	// computed from; computed says whether they ever were.
	gen         uint64
	computedRev uint64
	computed    bool
	// subs is the key of the proxyless subscription set last seen (see subscriptionKey).
	subs string
	// sent: the versions handed to the cache, per short type; acked: the versions ACKed.
	sent     map[string]string
	acked    map[string]string
	lastNACK string
	// bundles maps the sds versions handed to the cache and not yet ACKed to the trust
	// bundle they carry; ackedBundle is the bundle of the sds version last ACKed (trust.go).
	bundles     map[string][]byte
	ackedBundle []byte
	usesBundle  bool
}

// streamKey identifies a stream: state-of-the-world and delta streams are numbered apart.
type streamKey struct {
	delta bool
	id    int64
}

// stream is the state of one open stream.
type stream struct {
	node *node
	// listeners a proxyless client subscribed to on this stream, and whether it subscribed
	// to all (wildcard).
	listeners   map[string]bool
	wildcard    bool
	listenerSub bool // a Listener request was seen
	// lastSent is the nonce and version of the last response per type URL.
	lastSent map[string]sentResponse
}

type sentResponse struct{ nonce, version string }

// request is what the server needs of a state-of-the-world or delta request.
type request struct {
	node    *corev3.Node
	typeURL string
	nonce   string
	// version is the version a state-of-the-world request ACKs (or the last good one).
	version     string
	errorDetail *rpcstatus.Status
	// names (state of the world) or subscribe/unsubscribe (delta) of the request.
	names                  []string
	subscribe, unsubscribe []string
}

// onRequest tracks a request of a stream before the cache sees it: the stream's first request
// registers the stream (and the node, whose resources are computed at once, so a new proxy
// does not wait for the debounce); ACKs and NACKs are recorded; a proxyless client's Listener
// subscriptions decide which targets it gets.
//
// For a state-of-the-world NACK it returns the version that was refused: the caller makes the
// request claim that version, so the cache waits for a change instead of sending the refused
// resources again at once (and again, at every NACK).
func (s *Server) onRequest(k streamKey, r request) (refused string, err error) {
	s.mu.Lock()
	st, known := s.streams[k]
	refresh := false
	if !known {
		if r.node.GetId() == "" {
			s.mu.Unlock()
			return "", status.Error(codes.InvalidArgument, "the first request of a stream must carry a node with an id")
		}
		meta, err := wire.DecodeNodeMetadata(r.node.GetMetadata())
		if err != nil {
			s.mu.Unlock()
			s.log.Warn("refusing xDS stream: bad node metadata", "node", r.node.GetId(), "err", err)
			return "", status.Errorf(codes.InvalidArgument, "node %q: %v", r.node.GetId(), err)
		}
		n := s.nodes[r.node.GetId()]
		if n == nil {
			n = &node{id: r.node.GetId(), meta: meta, streams: map[streamKey]*stream{}, acked: map[string]string{}}
			s.nodes[n.id] = n
			s.metrics.connected.Set(float64(len(s.nodes)))
			s.log.Info("proxy connected", "node", n.id, "mode", meta.Mode, "delta", k.delta)
		} else if !reflect.DeepEqual(n.meta, meta) {
			n.meta = meta
			n.rev++
		}
		st = &stream{node: n, listeners: map[string]bool{}, lastSent: map[string]sentResponse{}}
		s.streams[k] = st
		n.streams[k] = st
		refresh = true
	}
	n := st.node
	short := shortType(r.typeURL)
	sent, answered := st.lastSent[r.typeURL]
	answered = answered && r.nonce != "" && sent.nonce == r.nonce
	switch {
	case r.errorDetail != nil:
		n.lastNACK = r.errorDetail.GetMessage()
		s.metrics.nacks.WithLabelValues(short).Inc()
		s.log.Warn("proxy rejected configuration (NACK)", "node", n.id, "type", short,
			"message", r.errorDetail.GetMessage())
		if answered && !k.delta {
			refused = sent.version
		}
	case k.delta && answered:
		n.acked[short] = sent.version
		n.ackedTrust(short, sent.version)
	case !k.delta && r.nonce != "":
		n.acked[short] = r.version
		n.ackedTrust(short, r.version)
	}
	if n.meta.Mode == wire.ModeProxyless && r.typeURL == resource.ListenerType {
		st.trackListeners(k.delta, r)
		if key := subscriptionKey(n); key != n.subs {
			n.subs = key
			n.rev++
			refresh = true
		}
	}
	s.mu.Unlock()
	if refresh {
		s.refresh(n, time.Time{})
	}
	return refused, nil
}

// trackListeners applies a Listener request to the stream's subscriptions.
func (st *stream) trackListeners(delta bool, r request) {
	if !delta {
		clear(st.listeners)
		st.wildcard = len(r.names) == 0
		for _, name := range r.names {
			if name == "*" {
				st.wildcard = true
				continue
			}
			st.listeners[name] = true
		}
		return
	}
	if !st.listenerSub {
		// The first delta request of a type with no names is a (legacy) wildcard subscription.
		st.wildcard = len(r.subscribe) == 0
	}
	for _, name := range r.subscribe {
		if name == "*" {
			st.wildcard = true
			continue
		}
		st.listeners[name] = true
	}
	for _, name := range r.unsubscribe {
		if name == "*" {
			st.wildcard = false
			continue
		}
		delete(st.listeners, name)
	}
	st.listenerSub = true
}

// subscriptionKey summarises a node's Listener subscriptions over its streams.
func subscriptionKey(n *node) string {
	wildcard := false
	names := map[string]bool{}
	for _, st := range n.streams {
		wildcard = wildcard || st.wildcard
		for name := range st.listeners {
			names[name] = true
		}
	}
	if wildcard {
		return "*"
	}
	return strings.Join(slices.Sorted(maps.Keys(names)), "\n")
}

// onResponse remembers the nonce and version of a response, to know what an ACK or a NACK
// answers.
func (s *Server) onResponse(k streamKey, typeURL, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.streams[k]; ok {
		st.lastSent[typeURL] = sentResponse{nonce: nonce, version: version}
	}
}

// streamClosed forgets a stream, and its node with its cached snapshot when it was the last.
func (s *Server) streamClosed(k streamKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[k]
	if !ok {
		return
	}
	delete(s.streams, k)
	n := st.node
	delete(n.streams, k)
	if len(n.streams) > 0 {
		if n.meta.Mode == wire.ModeProxyless {
			if key := subscriptionKey(n); key != n.subs {
				n.subs = key
				n.rev++ // the next push drops what only the closed stream asked for
			}
		}
		return
	}
	delete(s.nodes, n.id)
	s.cache.ClearSnapshot(n.id)
	s.metrics.connected.Set(float64(len(s.nodes)))
	s.log.Info("proxy disconnected", "node", n.id)
}

// refresh recomputes a node's resources from the latest snapshot and hands them to the cache
// if any type changed. since is when the oldest change being pushed reached Update (zero when
// the node itself changed).
func (s *Server) refresh(n *node, since time.Time) {
	s.mu.Lock()
	snap, gen, rev := s.snap, s.gen, n.rev
	if snap == nil || s.nodes[n.id] != n || (n.computed && gen == n.gen && rev == n.computedRev) {
		s.mu.Unlock()
		return
	}
	proxy := translate.Proxy{ID: n.id, Meta: s.proxyMeta(n, snap)}
	s.mu.Unlock()

	res, err := translate.Translate(snap, proxy)
	var built *builtSnapshot
	if err == nil {
		built, err = buildSnapshot(res)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Skip if the node left, or a computation from newer inputs got here first.
	if s.nodes[n.id] != n || (n.computed && (gen < n.gen || rev < n.computedRev)) {
		return
	}
	n.gen, n.computedRev, n.computed = gen, rev, true
	if err != nil {
		s.log.Warn("computing proxy configuration failed; the proxy keeps its last one", "node", n.id, "err", err)
		return
	}
	if maps.Equal(built.versions, n.sent) {
		return
	}
	if err := s.cache.SetSnapshot(context.Background(), n.id, built.snapshot); err != nil {
		s.log.Warn("handing proxy configuration to the xDS cache failed", "node", n.id, "err", err)
		return
	}
	n.sent = built.versions
	n.sentTrust(res, snap.TrustBundle, built.versions)
	s.metrics.pushes.Inc()
	if !since.IsZero() {
		s.metrics.pushLatency.Observe(time.Since(since).Seconds())
	}
	s.log.Debug("pushed proxy configuration", "node", n.id, "versions", built.versions)
}

// proxyMeta is the metadata translate sees for a node. A proxyless client's targets are the
// Listeners it subscribed to ("<svc>.<ns>:<port>"; every target for a wildcard subscription).
func (s *Server) proxyMeta(n *node, snap *mesh.Snapshot) wire.ProxyMeta {
	meta := n.meta
	if meta.Mode != wire.ModeProxyless {
		return meta
	}
	if n.subs == "*" {
		meta.Upstreams = translate.ProxylessTargets(snap)
		return meta
	}
	meta.Upstreams = nil
	for _, name := range strings.Split(n.subs, "\n") {
		if u, ok := parseTarget(name); ok {
			meta.Upstreams = append(meta.Upstreams, u)
		}
	}
	return meta
}

// parseTarget parses "<svc>.<ns>:<port>".
func parseTarget(name string) (wire.Upstream, bool) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return wire.Upstream{}, false
	}
	port, err := strconv.ParseUint(name[i+1:], 10, 16)
	if err != nil || port == 0 {
		return wire.Upstream{}, false
	}
	svc, ns, ok := strings.Cut(name[:i], ".")
	if !ok || svc == "" || ns == "" || strings.Contains(ns, ".") {
		return wire.Upstream{}, false
	}
	return wire.Upstream{Service: svc, Namespace: ns, Port: int32(port)}, true
}

// shortType names a type URL as in ProxyStatus and metrics: lds, rds, cds, eds, sds.
func shortType(typeURL string) string {
	switch typeURL {
	case resource.ListenerType:
		return "lds"
	case resource.RouteType:
		return "rds"
	case resource.ClusterType:
		return "cds"
	case resource.EndpointType:
		return "eds"
	case resource.SecretType:
		return "sds"
	}
	return cmp.Or(typeURL[strings.LastIndexByte(typeURL, '.')+1:], "unknown")
}
