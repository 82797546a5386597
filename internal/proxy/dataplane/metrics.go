package dataplane

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/internal/proxy/cluster"
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
	requests          *prometheus.CounterVec
	downstream        *prometheus.GaugeVec
	upstream          *prometheus.GaugeVec
	handshakeFailures *prometheus.CounterVec
	mtls              mtlsMetrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "HTTP requests served, by listener and class of the status sent downstream.",
		}, []string{"listener", "class"}),
		downstream: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricDownstreamActive,
			Help: "Downstream connections being served, by listener.",
		}, []string{"listener"}),
		upstream: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricUpstreamActive,
			Help: "Open upstream connections, by cluster.",
		}, []string{"cluster"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricHandshakeFailures,
			Help: "Downstream TLS handshakes refused, by listener and reason " +
				"(no_client_cert, untrusted, san_mismatch, plaintext, other).",
		}, []string{"listener", "reason"}),
	}
	mt, err := newMTLSMetrics(reg)
	if err != nil {
		return nil, err
	}
	m.mtls = mt
	if reg == nil {
		return m, nil
	}
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.downstream, err = register(reg, m.downstream); err != nil {
		return nil, err
	}
	if m.upstream, err = register(reg, m.upstream); err != nil {
		return nil, err
	}
	if m.handshakeFailures, err = register(reg, m.handshakeFailures); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under the same
// description (a second Runtime on the same registry shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering data plane metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) upstreamGauge(clusterName string) cluster.Gauge {
	return m.upstream.WithLabelValues(clusterName)
}

// listenerMetrics are one listener's children, looked up once so that a request costs one
// atomic add.
type listenerMetrics struct {
	classes [len(statusClasses)]prometheus.Counter
	active  prometheus.Gauge
	name    string
	hs      *prometheus.CounterVec
}

func (m *metrics) forListener(name string) *listenerMetrics {
	lm := &listenerMetrics{active: m.downstream.WithLabelValues(name), name: name, hs: m.handshakeFailures}
	for i, c := range statusClasses {
		lm.classes[i] = m.requests.WithLabelValues(name, c)
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

func (lm *listenerMetrics) handshakeFailed(reason string) {
	lm.hs.WithLabelValues(lm.name, reason).Inc()
}
