package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVMRSS(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "Name:\tweft-proxy\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", want: 12345},
		{in: "Name:\tkthreadd\nState:\tS\n", wantErr: true},
		{in: "VmRSS:\t12 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := vmRSSKiB([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("vmRSSKiB(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCPUTicks(t *testing.T) {
	// utime (14th field) 250, stime (15th) 50; the command name holds a space and a ')'.
	stat := "4242 (weft proxy) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 123 456 789\n"
	got, err := cpuTicks([]byte(stat))
	if err != nil || got != 300 {
		t.Errorf("cpuTicks = %d, %v; want 300", got, err)
	}
	for _, bad := range []string{"no parenthesis", "1 (x) S 1 2 3"} {
		if _, err := cpuTicks([]byte(bad)); err == nil {
			t.Errorf("cpuTicks(%q): no error", bad)
		}
	}
}

// The benchtool reads its own process: the values are plausible, and CPU time only grows.
func TestProcOfSelf(t *testing.T) {
	pid := os.Getpid()
	mib, err := maxRSSMiB([]int{pid})
	if err != nil || mib <= 0 || mib > 4096 {
		t.Errorf("maxRSSMiB(self) = %v, %v", mib, err)
	}
	var out bytes.Buffer
	if err := cmdCPU([]string{itoa(pid)}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "\n") || strings.HasPrefix(out.String(), "-") {
		t.Errorf("cpu printed %q", out.String())
	}
	if err := cmdRSS([]string{"0"}, &out); err == nil {
		t.Error("rss of PID 0: no error")
	}
}

func TestPorts(t *testing.T) {
	var out bytes.Buffer
	if err := cmdPorts([]string{"5"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(out.String())
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(lines) != 5 || len(seen) != 5 {
		t.Errorf("ports printed %q, want 5 different ports", out.String())
	}
	if err := cmdPorts([]string{"x"}, &out); err == nil {
		t.Error("ports x: no error")
	}
}

func TestComputeResult(t *testing.T) {
	maxRun, err := readFortio("testdata/fortio-max.json")
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := readFortio("testdata/fortio-fixed.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := maxRun.failed(); n != 10 {
		t.Errorf("failed = %d, want 10", n)
	}
	tests := []struct {
		name string
		in   resultInputs
		want string
	}{
		{
			name: "direct: no proxy to measure",
			in:   resultInputs{Max: maxRun, Fixed: fixed},
			want: `{"max_rps":23457,"p50_ms":0.523,"p99_ms":1.995,"rss_idle_mb":null,"rss_load_mb":null,"vcpu_per_krps":null}`,
		},
		{
			// 1.2 CPU seconds over 10.004 s at 999.5 rps: 1.2 / 10.004 / 0.9995 = 0.12001 vCPU.
			name: "proxies",
			in:   resultInputs{Max: maxRun, Fixed: fixed, RSSIdle: ptr(8.04), RSSLoad: ptr(21.37), CPUBefore: ptr(3.5), CPUAfter: ptr(4.7)},
			want: `{"max_rps":23457,"p50_ms":0.523,"p99_ms":1.995,"rss_idle_mb":8,"rss_load_mb":21.4,"vcpu_per_krps":0.12}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := computeResult(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r)
			if string(got) != tt.want {
				t.Errorf("result\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := computeResult(resultInputs{Max: maxRun, Fixed: fixed, CPUBefore: ptr(1.0)}); err == nil {
		t.Error("cpu-before without cpu-after: no error")
	}
}

func TestReadFortioErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"ActualQPS":0,"DurationHistogram":{"Count":0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noP := filepath.Join(dir, "nop.json")
	if err := os.WriteFile(noP, []byte(`{"ActualQPS":5,"ActualDuration":1000,"DurationHistogram":{"Count":5}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readFortio(empty); err == nil || !strings.Contains(err.Error(), "no request") {
		t.Errorf("empty run: error = %v", err)
	}
	if _, err := readFortio(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
	r, err := readFortio(noP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.percentileMS(99); err == nil || !strings.Contains(err.Error(), "p99") {
		t.Errorf("missing percentile: error = %v", err)
	}
}

func TestReport(t *testing.T) {
	h1 := &Result{MaxRPS: ptr(20000), P50MS: ptr(0.6), P99MS: ptr(1.5), RSSIdleMB: ptr(14), RSSLoadMB: ptr(18), VCPUPerKRPS: ptr(0.06)}
	h2 := &Result{MaxRPS: ptr(30000), P50MS: ptr(0.5), P99MS: ptr(1.2), RSSIdleMB: ptr(15), RSSLoadMB: ptr(20), VCPUPerKRPS: ptr(0.04)}
	weft := &Result{MaxRPS: ptr(15000), P50MS: ptr(0.55), P99MS: ptr(1.8), RSSIdleMB: ptr(9), RSSLoadMB: ptr(25), VCPUPerKRPS: ptr(0.06)}
	direct := &Result{MaxRPS: ptr(60000), P50MS: ptr(0.2), P99MS: ptr(0.6)}

	r, err := buildReport(map[string]*Result{"direct": direct, "weft": weft, "haproxy_h1": h1, "haproxy_h2": h2}, Meta{Date: "2026-01-02T03:04:05Z", Duration: 10, CPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.HAProxy != h2 {
		t.Errorf("haproxy = %+v, want the h2 result (higher max_rps)", r.HAProxy)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"direct", "haproxy", "haproxy_h1", "haproxy_h2", "meta", "weft"}, sortedKeys(top)); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	var directObj map[string]json.RawMessage
	if err := json.Unmarshal(top["direct"], &directObj); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"max_rps", "p50_ms", "p99_ms", "rss_idle_mb", "rss_load_mb", "vcpu_per_krps"}, sortedKeys(directObj)); diff != "" {
		t.Errorf("result keys (-want +got):\n%s", diff)
	}
	if string(directObj["rss_idle_mb"]) != "null" {
		t.Errorf("direct rss_idle_mb = %s, want null", directObj["rss_idle_mb"])
	}

	var out bytes.Buffer
	writeTable(&out, r)
	for _, want := range []string{
		"weft / haproxy (h2 link): max rps 0.50x, p50 1.10x, p99 1.50x, RSS idle 0.60x, RSS load 1.25x, vCPU/1k rps 1.50x",
		"added p99 over direct at 1000 rps: weft +1.200 ms, haproxy +0.600 ms",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	if _, err := buildReport(map[string]*Result{"nginx": h1}, Meta{}); err == nil {
		t.Error("unknown setup: no error")
	}
	if got := better(nil, h1); got != h1 {
		t.Error("better(nil, h1) is not h1")
	}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func itoa(i int) string { return strconv.Itoa(i) }
