package xds

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the xDS server.
type metrics struct {
	connected   prometheus.Gauge
	pushes      prometheus.Counter
	nacks       *prometheus.CounterVec
	pushLatency prometheus.Histogram
}

// newMetrics creates the metrics and registers them on reg, if not nil.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_xds_connected_proxies",
			Help: "Proxies (xDS nodes) with at least one open stream.",
		}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_pushes_total",
			Help: "Changed configurations handed to connected proxies.",
		}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_nacks_total",
			Help: "Configurations proxies rejected, by resource type (lds, rds, cds, eds, sds).",
		}, []string{"type"}),
		pushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_xds_push_latency_seconds",
			Help:    "Time from a snapshot update to the push of a proxy's changed configuration.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.pushes, m.nacks, m.pushLatency} {
			if err := reg.Register(c); err != nil {
				log.Warn("registering xds metric failed", "err", err)
			}
		}
	}
	return m
}
