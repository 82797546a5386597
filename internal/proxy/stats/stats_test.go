package stats

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWritePrometheus(t *testing.T) {
	r := NewRegistry()
	r.Counter("weft_b_total", "Bs.", "listener", "in", "class", "2xx").Add(3)
	r.Counter("weft_b_total", "ignored: the first help stays", "class", "5xx", "listener", "in").Inc()
	g := r.Gauge("weft_a_active", "Active as.\nSecond line with a \\.", "cluster", "x")
	g.Inc()
	g.Inc()
	g.Dec()
	r.GaugeFunc("weft_c", "C.", func() float64 { return 1.5 })

	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	want := `# HELP weft_a_active Active as.\nSecond line with a \\.
# TYPE weft_a_active gauge
weft_a_active{cluster="x"} 1
# HELP weft_b_total Bs.
# TYPE weft_b_total counter
weft_b_total{class="2xx",listener="in"} 3
weft_b_total{class="5xx",listener="in"} 1
# HELP weft_c C.
# TYPE weft_c gauge
weft_c 1.5
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestSeriesEscapesLabelValues(t *testing.T) {
	got := Series("m", "policy", "ns/a \"b\" \\ c\nd", "a", "1")
	want := `m{a="1",policy="ns/a \"b\" \\ c\nd"}`
	if got != want {
		t.Errorf("Series = %s, want %s", got, want)
	}
	// The library accepts the escaped name, and a scrape reads it back.
	r := NewRegistry()
	r.Counter("m", "M.", "policy", "ns/a \"b\" \\ c\nd", "a", "1").Inc()
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap[want] != 1 {
		t.Errorf("snapshot = %v, want %s = 1", snap, want)
	}
}

func TestSeriesOddLabelsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Series with an odd number of label arguments did not panic")
		}
	}()
	Series("m", "lonely")
}

func TestSameSeriesIsShared(t *testing.T) {
	r := NewRegistry()
	a := r.Counter("weft_x_total", "X.", "l", "1")
	b := r.Counter("weft_x_total", "X.", "l", "1")
	if a != b {
		t.Fatal("the same series gave two counters")
	}
	// A gauge function registered twice keeps the first function.
	r.GaugeFunc("weft_f", "F.", func() float64 { return 1 })
	r.GaugeFunc("weft_f", "F.", func() float64 { return 2 })
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap["weft_f"] != 1 {
		t.Errorf("weft_f = %v, want 1", snap["weft_f"])
	}
}

func TestTypeClashPanics(t *testing.T) {
	r := NewRegistry()
	r.Counter("weft_x", "X.")
	defer func() {
		if recover() == nil {
			t.Error("a gauge named like a counter did not panic")
		}
	}()
	r.Gauge("weft_x", "X.")
}

func TestDelete(t *testing.T) {
	r := NewRegistry()
	r.Counter("weft_denied_total", "D.", "policy", "a").Inc()
	r.Counter("weft_denied_total", "D.", "policy", "b").Inc()
	if !r.Delete("weft_denied_total", "policy", "a") {
		t.Error("Delete of an existing series = false")
	}
	if r.Delete("weft_denied_total", "policy", "a") || r.Delete("weft_unknown", "policy", "a") {
		t.Error("Delete of a missing series = true")
	}
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, `policy="a"`) || !strings.Contains(out, `policy="b"`) {
		t.Errorf("after deleting policy a:\n%s", out)
	}
	// A family without series writes nothing, not even its HELP line.
	r.Delete("weft_denied_total", "policy", "b")
	buf.Reset()
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("after deleting every series:\n%s", buf.String())
	}
	// A deleted series comes back at 0 when used again.
	r.Counter("weft_denied_total", "D.", "policy", "a").Inc()
	if snap, _ := r.Snapshot(); snap[`weft_denied_total{policy="a"}`] != 1 {
		t.Errorf("recreated series = %v", snap)
	}
}

func TestRuntimeMetrics(t *testing.T) {
	r := NewRegistry().WithRuntimeMetrics()
	r.Counter("weft_x_total", "X.").Inc()
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"# TYPE go_goroutines gauge\ngo_goroutines ",
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
		"process_cpu_seconds_total ",
		"process_open_fds ",
		"# TYPE weft_x_total counter\nweft_x_total 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Without WithRuntimeMetrics, only the registry's own series.
	plain := NewRegistry()
	plain.Counter("weft_x_total", "X.").Inc()
	buf.Reset()
	if err := plain.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "go_goroutines") {
		t.Errorf("runtime metrics written without WithRuntimeMetrics:\n%s", buf.String())
	}
}

// Concurrent updates, scrapes and deletes: run with -race.
func TestConcurrentUse(t *testing.T) {
	r := NewRegistry().WithRuntimeMetrics()
	c := r.Counter("weft_n_total", "N.")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 500 {
				c.Inc()
				r.Gauge("weft_g", "G.", "w", string(rune('a'+i))).Set(float64(j))
				if j%100 == 0 {
					if _, err := r.Snapshot(); err != nil {
						t.Error(err)
						return
					}
					r.Delete("weft_g", "w", string(rune('a'+i)))
				}
			}
		})
	}
	wg.Wait()
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap["weft_n_total"] != 2000 {
		t.Errorf("weft_n_total = %v, want 2000", snap["weft_n_total"])
	}
}

func BenchmarkWritePrometheus(b *testing.B) {
	r := NewRegistry().WithRuntimeMetrics()
	for i := range 20 {
		r.Counter("weft_requests_total", "R.", "listener", "l", "class", strings.Repeat("x", i)).Inc()
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WritePrometheus(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
