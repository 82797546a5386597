package dataplane

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/weftmesh/weft/internal/proxy/stats"
	"github.com/weftmesh/weft/internal/wire"
)

// Metric names of the mutual TLS modes.
const (
	MetricPlaintextConnections = "weft_inbound_plaintext_connections_total"
	MetricPlaintextRefused     = "weft_inbound_plaintext_refused_total"
	MetricDetectionTimeouts    = "weft_protocol_detection_timeouts_total"
)

// mtlsMetrics count what the mutual TLS modes let through or refuse.
type mtlsMetrics struct{ reg *stats.Registry }

// Help texts of the mutual TLS modes' metrics.
const (
	helpPlaintextConnections = "Plaintext connections served by inbound listeners (PERMISSIVE or DISABLE mTLS), by listener and service port."
	helpPlaintextRefused     = "Plaintext connections refused by an inbound listener that takes plaintext on no port it can tell, by listener."
	helpDetectionTimeouts    = "Connections that sent no TLS ClientHello within the protocol detection bound, by listener."
)

// plaintextServed returns the counter of the plaintext connections a listener serves on a
// service port (created at its first connection: see chainView.plaintext).
func (m mtlsMetrics) plaintextServed(listener string, port int32) *stats.Counter {
	return m.reg.Counter(MetricPlaintextConnections, helpPlaintextConnections, "listener", listener, "port", strconv.Itoa(int(port)))
}

func (m mtlsMetrics) plaintextRefused(listener string) {
	m.reg.Counter(MetricPlaintextRefused, helpPlaintextRefused, "listener", listener).Inc()
}

func (m mtlsMetrics) detectionTimeout(listener string) {
	m.reg.Counter(MetricDetectionTimeouts, helpDetectionTimeouts, "listener", listener).Inc()
}

// maxPlaintextSources bounds the plaintext table: past it, the source seen least recently is
// forgotten.
const maxPlaintextSources = 256

// plaintextKey is one row of the plaintext table.
type plaintextKey struct {
	listener string
	address  string
	port     int32
}

// plaintextTable remembers the recent sources of plaintext connections, for the report of who
// would be cut off by STRICT. It also remembers which listeners already logged a refusal.
type plaintextTable struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	sources map[plaintextKey]*wire.PlaintextSource
	refused map[string]bool
}

func newPlaintextTable(now func() time.Time, max int) *plaintextTable {
	return &plaintextTable{now: now, max: max, sources: map[plaintextKey]*wire.PlaintextSource{}, refused: map[string]bool{}}
}

// note records one plaintext connection from addr.
func (t *plaintextTable) note(listener string, addr net.Addr, port int32) {
	ip := addr.String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	now := t.now()
	k := plaintextKey{listener: listener, address: ip, port: port}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.sources[k]; ok {
		s.Count++
		s.LastSeen = now
		return
	}
	if len(t.sources) >= t.max {
		t.evictOldest()
	}
	t.sources[k] = &wire.PlaintextSource{Address: ip, Listener: listener, Port: port, Count: 1, FirstSeen: now, LastSeen: now}
}

// evictOldest forgets the source seen least recently. Called with t.mu held.
func (t *plaintextTable) evictOldest() {
	var oldest plaintextKey
	var at time.Time
	first := true
	for k, s := range t.sources {
		if first || s.LastSeen.Before(at) {
			oldest, at, first = k, s.LastSeen, false
		}
	}
	delete(t.sources, oldest)
}

// firstRefusal reports whether this is the first plaintext refusal of the listener.
func (t *plaintextTable) firstRefusal(listener string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refused[listener] {
		return false
	}
	t.refused[listener] = true
	return true
}

// report lists the sources, most recently seen first.
func (t *plaintextTable) report() wire.PlaintextReport {
	t.mu.Lock()
	out := wire.PlaintextReport{Now: t.now(), Sources: make([]wire.PlaintextSource, 0, len(t.sources))}
	for _, s := range t.sources {
		out.Sources = append(out.Sources, *s)
	}
	t.mu.Unlock()
	slices.SortFunc(out.Sources, func(a, b wire.PlaintextSource) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Listener, b.Listener),
			cmp.Compare(a.Port, b.Port), cmp.Compare(a.Address, b.Address))
	})
	return out
}

// PlaintextReport returns the recent sources of plaintext connections to the inbound
// listeners (served on PERMISSIVE or DISABLE ports), most recently seen first. The admin
// server serves it as GET /mtls/plaintext.
func (r *Runtime) PlaintextReport() wire.PlaintextReport { return r.plaintext.report() }
