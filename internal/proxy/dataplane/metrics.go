package dataplane

import (
	"sync"

	"github.com/weftmesh/weft/internal/proxy/cluster"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// Metric names exported by the data plane.
const (
	MetricRequests          = "weft_requests_total"
	MetricDownstreamActive  = "weft_downstream_connections_active"
	MetricUpstreamActive    = "weft_upstream_connections_active"
	MetricHandshakeFailures = "weft_tls_handshake_failures_total"
)

// statusClasses are the values of the "class" label of weft_requests_total; "none" counts
// requests whose downstream went away before an answer.
var statusClasses = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

type metrics struct {
	reg  *stats.Registry
	mtls mtlsMetrics
}

// Help texts of the data plane's metrics.
const (
	helpRequests          = "HTTP requests served, by listener and class of the status sent downstream."
	helpDownstreamActive  = "Downstream connections being served, by listener."
	helpUpstreamActive    = "Open upstream connections, by cluster."
	helpHandshakeFailures = "Downstream TLS handshakes refused, by listener and reason " +
		"(no_client_cert, untrusted, san_mismatch, plaintext, other)."
)

// newMetrics returns the data plane's metrics in reg; nil keeps them in a registry of their
// own, not exported.
func newMetrics(reg *stats.Registry) *metrics {
	if reg == nil {
		reg = stats.NewRegistry()
	}
	return &metrics{reg: reg, mtls: mtlsMetrics{reg}}
}

func (m *metrics) upstreamGauge(clusterName string) cluster.Gauge {
	return m.reg.Gauge(MetricUpstreamActive, helpUpstreamActive, "cluster", clusterName)
}

// listenerMetrics are one listener's children, looked up once so that a request costs one
// atomic add.
type listenerMetrics struct {
	classes [len(statusClasses)]*stats.Counter
	active  *stats.Gauge
	name    string
	reg     *stats.Registry

	// failures are the handshake failure counters by reason, looked up at the first failure
	// of each reason (so that no series appears at zero).
	failuresMu sync.Mutex
	failures   map[string]*stats.Counter
}

func (m *metrics) forListener(name string) *listenerMetrics {
	lm := &listenerMetrics{
		active: m.reg.Gauge(MetricDownstreamActive, helpDownstreamActive, "listener", name),
		name:   name,
		reg:    m.reg,
	}
	for i, c := range statusClasses {
		lm.classes[i] = m.reg.Counter(MetricRequests, helpRequests, "listener", name, "class", c)
	}
	return lm
}

// observe counts one request by the class of its status.
func (lm *listenerMetrics) observe(status int) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 0
	}
	lm.classes[i].Inc()
}

// handshakeFailed counts one refused TLS handshake.
func (lm *listenerMetrics) handshakeFailed(reason string) {
	lm.failuresMu.Lock()
	c := lm.failures[reason]
	if c == nil {
		if lm.failures == nil {
			lm.failures = make(map[string]*stats.Counter)
		}
		c = lm.reg.Counter(MetricHandshakeFailures, helpHandshakeFailures, "listener", lm.name, "reason", reason)
		lm.failures[reason] = c
	}
	lm.failuresMu.Unlock()
	c.Inc()
}
