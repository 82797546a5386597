// Package stats holds the proxy's metrics and writes them in the Prometheus text format, for
// the admin server's /stats/prometheus.
//
// It is built on github.com/VictoriaMetrics/metrics rather than prometheus/client_golang (which
// weftd uses): every workload runs a proxy, so its footprint counts, and client_golang with its
// collectors and HTTP handler costs the proxy about 1 MiB more of resident memory (measured in
// docs/benchmarks.md). The series a proxy exports are counters and gauges with fixed label sets,
// looked up once and then updated with one atomic operation.
package stats

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Counter is a monotonic counter: Inc, Add, Get.
type Counter = metrics.Counter

// Gauge is a gauge that can be set: Set, Inc, Dec, Add, Get.
type Gauge = metrics.Gauge

// Metric types, as the TYPE line of a family says.
const (
	typeCounter = "counter"
	typeGauge   = "gauge"
)

// Registry is one proxy's metrics, grouped into families (one metric name, one HELP text, one
// type). Its methods are safe for concurrent use. The zero value is not usable: call
// NewRegistry.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
	// runtime, when set, appends the Go runtime's and the process's metrics (go_*, process_*).
	runtime bool

	// writeMu serialises scrapes, which reuse buf and series: a scrape then leaves little
	// garbage behind (docs/benchmarks.md, memory of an idle proxy).
	writeMu     sync.Mutex
	buf, series bytes.Buffer
}

type family struct {
	name, help, typ string
	set             *metrics.Set
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: make(map[string]*family)}
}

// WithRuntimeMetrics makes the registry also write the Go runtime's metrics (go_goroutines,
// go_memstats_*, ...) and the process's (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, ...). It returns r.
func (r *Registry) WithRuntimeMetrics() *Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runtime = true
	return r
}

// Counter returns the counter of the series name{labels}, created at 0 on first use. labels
// are label name, value pairs; help describes the family and is kept from its first use.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	return r.family(name, help, typeCounter).set.GetOrCreateCounter(Series(name, labels...))
}

// Gauge returns the settable gauge of the series name{labels}, created at 0 on first use.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	return r.family(name, help, typeGauge).set.GetOrCreateGauge(Series(name, labels...), nil)
}

// GaugeFunc registers the series name{labels} as a gauge whose value is f(), called at each
// scrape. A series registered twice keeps its first f.
func (r *Registry) GaugeFunc(name, help string, f func() float64, labels ...string) {
	r.family(name, help, typeGauge).set.GetOrCreateGauge(Series(name, labels...), f)
}

// Delete removes the series name{labels}, so that a series of a thing that is gone (a deleted
// policy, a removed cluster) stops being exported. It reports whether the series existed.
func (r *Registry) Delete(name string, labels ...string) bool {
	r.mu.Lock()
	f := r.families[name]
	r.mu.Unlock()
	return f != nil && f.set.UnregisterMetric(Series(name, labels...))
}

func (r *Registry) family(name, help, typ string) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.families[name]
	if f == nil {
		f = &family{name: name, help: help, typ: typ, set: metrics.NewSet()}
		r.families[name] = f
	}
	if f.typ != typ {
		// Two parts of the proxy disagree on what a metric is: a programming error.
		panic(fmt.Sprintf("stats: metric %s is a %s, not a %s", name, f.typ, typ))
	}
	return f
}

// metadataMu serialises the runtime metrics' writes: they say their TYPE only while the
// library's process-wide metadata switch is on, and the registry's own families write their
// HELP and TYPE lines themselves with it off.
var metadataMu sync.Mutex

// WritePrometheus writes every series in the Prometheus text format (version 0.0.4), family by
// family in name order, each with its HELP and TYPE lines; then the runtime metrics if enabled.
// A family whose series have all been deleted is left out.
func (r *Registry) WritePrometheus(w io.Writer) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	runtime := r.runtime
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	buf, series := &r.buf, &r.series
	buf.Reset()
	metadataMu.Lock()
	for _, f := range fams {
		series.Reset()
		f.set.WritePrometheus(series)
		if series.Len() == 0 {
			continue
		}
		fmt.Fprintf(buf, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		buf.Write(series.Bytes())
	}
	if runtime {
		metrics.ExposeMetadata(true)
		metrics.WriteProcessMetrics(buf)
		metrics.WriteFDMetrics(buf)
		metrics.ExposeMetadata(false)
	}
	metadataMu.Unlock()
	// A slow reader holds up this registry's next scrape, not the others'.
	_, err := w.Write(buf.Bytes())
	return err
}

// Series returns the series name of a metric with labels (label name, value pairs) as the text
// format writes it: name{a="x",b="y"}, labels sorted by name, values escaped. It panics on an
// odd number of label arguments, a programming error.
func Series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("stats: metric %s: labels must be name, value pairs, got %q", name, labels))
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		pairs = append(pairs, pair{labels[i], labels[i+1]})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.k)
		b.WriteString(`="`)
		labelEscaper.WriteString(&b, p.v)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// The text format escapes backslash, double quote and line feed in label values, and
// backslash and line feed in HELP texts.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// Snapshot returns the value of every series the registry writes, runtime metrics included,
// keyed by series name as Series builds it. It reads the written text, so it sees what a
// scraper sees.
func (r *Registry) Snapshot() (map[string]float64, error) {
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		return nil, err
	}
	out := make(map[string]float64)
	for line := range strings.Lines(buf.String()) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("stats: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("stats: malformed value in %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, nil
}
