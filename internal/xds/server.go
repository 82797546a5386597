// Package xds serves Envoy xDS v3 (ADS, state-of-the-world and delta) to proxies, built on
// go-control-plane. It receives mesh snapshots, computes each connected proxy's resources with
// translate, and pushes only to proxies whose resources changed.
package xds

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/weftmesh/weft/internal/mesh"
)

// Defaults of Config.
const (
	DefaultDebounce = 100 * time.Millisecond
	DefaultMaxDelay = time.Second
)

// Config configures the xDS server.
type Config struct {
	// Debounce is how long updates gather before proxies are recomputed (default 100ms).
	Debounce time.Duration
	// MaxDelay bounds how long a change may wait while updates keep arriving: proxies are
	// recomputed at most MaxDelay after the first pending update (default 1s).
	MaxDelay time.Duration
}

// Validate reports a negative duration.
func (c Config) Validate() error {
	if c.Debounce < 0 {
		return fmt.Errorf("xds config: debounce %s is negative", c.Debounce)
	}
	if c.MaxDelay < 0 {
		return fmt.Errorf("xds config: max delay %s is negative", c.MaxDelay)
	}
	return nil
}

// withDefaults fills zero (or invalid) durations.
func (c Config) withDefaults() Config {
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.MaxDelay < c.Debounce {
		c.MaxDelay = c.Debounce
	}
	return c
}

// ProxyStatus describes one connected proxy.
type ProxyStatus struct {
	NodeID string `json:"nodeID"`
	// Mode is the proxy's mode: sidecar, gateway or proxyless.
	Mode string `json:"mode"`
	// Sent is the version of the last resources pushed, per type URL short name (lds, rds,
	// cds, eds, sds).
	Sent map[string]string `json:"sent"`
	// Acked is the version the proxy last ACKed, per type.
	Acked map[string]string `json:"acked"`
	// LastNACK is the error detail of the last NACK, if any.
	LastNACK string `json:"lastNACK,omitempty"`
	// UsesTrustBundle is true when the proxy's resources hold the ROOTCA secret (the trust
	// bundle); a proxy that verifies no peer (a proxyless client) gets none.
	UsesTrustBundle bool `json:"usesTrustBundle"`
	// TrustBundle is the trust bundle (PEM) of the ROOTCA secret the proxy last ACKed, nil
	// before it ACKed one. A CA rotation waits on it.
	TrustBundle []byte `json:"-"`
}

// Server is the ADS server. A proxy's resources are computed when its first stream sends its
// first request, and again after each debounced batch of updates; the proxy is pushed only the
// resource types whose content changed.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	ads     serverv3.Server
	metrics *metrics
	// kick wakes the push loop after an Update.
	kick chan struct{}
	// stop ends every stream (Run's end).
	stop context.CancelFunc

	mu sync.Mutex
	// snap is the latest snapshot and gen counts the snapshots received.
	snap *mesh.Snapshot
	gen  uint64
	// firstPending and lastUpdate time the updates not pushed yet (zero when none).
	firstPending, lastUpdate time.Time
	nodes                    map[string]*node
	streams                  map[streamKey]*stream
}

// NewServer returns a server; reg may be nil.
func NewServer(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg.withDefaults(),
		log:     log,
		metrics: newMetrics(reg, log),
		kick:    make(chan struct{}, 1),
		stop:    stop,
		nodes:   map[string]*node{},
		streams: map[streamKey]*stream{},
	}
	s.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, cacheLogger{log: log})
	s.ads = serverv3.NewServer(ctx, s.cache, callbacks{s: s})
	return s
}

// Update hands the server a new snapshot. It never blocks; updates are debounced.
func (s *Server) Update(snap *mesh.Snapshot) {
	if snap == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.snap = snap
	s.gen++
	if s.firstPending.IsZero() {
		s.firstPending = now
	}
	s.lastUpdate = now
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Register registers the ADS services (state-of-the-world and delta) on g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.ads)
}

// Run runs the debounce and push loop until ctx is done; call it once. When it returns, every
// open xDS stream ends, so that the gRPC server can stop gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		wait, pending := s.nextPush(time.Now())
		if pending && wait <= 0 {
			s.pushAll()
			continue
		}
		if pending {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// nextPush says whether updates are pending and how long until they are due: Debounce after
// the last one, but no later than MaxDelay after the first.
func (s *Server) nextPush(now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstPending.IsZero() {
		return 0, false
	}
	due := s.lastUpdate.Add(s.cfg.Debounce)
	if limit := s.firstPending.Add(s.cfg.MaxDelay); limit.Before(due) {
		due = limit
	}
	return due.Sub(now), true
}

// pushAll recomputes every known proxy against the latest snapshot.
func (s *Server) pushAll() {
	s.mu.Lock()
	since := s.firstPending
	s.firstPending, s.lastUpdate = time.Time{}, time.Time{}
	nodes := slices.Collect(maps.Values(s.nodes))
	s.mu.Unlock()
	slices.SortFunc(nodes, func(a, b *node) int { return cmp.Compare(a.id, b.id) })
	for _, n := range nodes {
		s.refresh(n, since)
	}
}

// Proxies lists the connected proxies, sorted by node ID.
func (s *Server) Proxies() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, ProxyStatus{
			NodeID:   n.id,
			Mode:     n.meta.Mode,
			Sent:     maps.Clone(n.sent),
			Acked:    maps.Clone(n.acked),
			LastNACK: n.lastNACK,

			UsesTrustBundle: n.usesBundle,
			TrustBundle:     n.ackedBundle,
		})
	}
	slices.SortFunc(out, func(a, b ProxyStatus) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
