package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is bench/results/latest.json.
type Report struct {
	Direct *Result `json:"direct"`
	Weft   *Result `json:"weft"`
	// HAProxy is the better (by max_rps) of HAProxyH1 and HAProxyH2.
	HAProxy   *Result `json:"haproxy"`
	HAProxyH1 *Result `json:"haproxy_h1"`
	HAProxyH2 *Result `json:"haproxy_h2"`
	Meta      Meta    `json:"meta"`
}

// Meta says when and how the benchmark ran.
type Meta struct {
	Date     string `json:"date"`     // RFC 3339, UTC
	Duration int    `json:"duration"` // seconds per measurement
	CPUs     int    `json:"cpus"`
}

// setupNames are the result files cmdReport accepts, in table order.
var setupNames = []string{"direct", "weft", "haproxy_h1", "haproxy_h2"}

// buildReport assembles the results of the setups that ran.
func buildReport(results map[string]*Result, meta Meta) (*Report, error) {
	for name := range results {
		if !slices.Contains(setupNames, name) {
			return nil, fmt.Errorf("unknown setup %q: want one of %s", name, strings.Join(setupNames, ", "))
		}
	}
	r := &Report{
		Direct:    results["direct"],
		Weft:      results["weft"],
		HAProxyH1: results["haproxy_h1"],
		HAProxyH2: results["haproxy_h2"],
		Meta:      meta,
	}
	r.HAProxy = better(r.HAProxyH1, r.HAProxyH2)
	return r, nil
}

// better returns the result with the higher max_rps (either, if one is missing).
func better(a, b *Result) *Result {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case value(b.MaxRPS) > value(a.MaxRPS):
		return b
	default:
		return a
	}
}

func value(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// writeTable prints the report as a table, then weft's figures relative to HAProxy's.
func writeTable(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup       \tmax rps\tp50 ms\tp99 ms\tRSS idle MiB\tRSS load MiB\tvCPU/1k rps\t")
	rows := []struct {
		name string
		res  *Result
	}{
		{"direct", r.Direct}, {"weft", r.Weft}, {"haproxy_h1", r.HAProxyH1}, {"haproxy_h2", r.HAProxyH2},
	}
	for _, row := range rows {
		if row.res == nil {
			continue
		}
		x := row.res
		fmt.Fprintf(tw, "%-12s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name,
			format(x.MaxRPS, 0), format(x.P50MS, 3), format(x.P99MS, 3),
			format(x.RSSIdleMB, 1), format(x.RSSLoadMB, 1), format(x.VCPUPerKRPS, 4))
	}
	_ = tw.Flush()
	if r.Weft == nil || r.HAProxy == nil {
		return
	}
	which := "h2"
	if r.HAProxy == r.HAProxyH1 {
		which = "h1"
	}
	fmt.Fprintf(w, "\nweft / haproxy (%s link): max rps %s, p50 %s, p99 %s, RSS idle %s, RSS load %s, vCPU/1k rps %s\n", which,
		ratio(r.Weft.MaxRPS, r.HAProxy.MaxRPS), ratio(r.Weft.P50MS, r.HAProxy.P50MS), ratio(r.Weft.P99MS, r.HAProxy.P99MS),
		ratio(r.Weft.RSSIdleMB, r.HAProxy.RSSIdleMB), ratio(r.Weft.RSSLoadMB, r.HAProxy.RSSLoadMB),
		ratio(r.Weft.VCPUPerKRPS, r.HAProxy.VCPUPerKRPS))
	if r.Direct != nil {
		fmt.Fprintf(w, "added p99 over direct at 1000 rps: weft %s ms, haproxy %s ms\n",
			diff(r.Weft.P99MS, r.Direct.P99MS), diff(r.HAProxy.P99MS, r.Direct.P99MS))
	}
}

func format(f *float64, decimals int) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", decimals, *f)
}

func ratio(a, b *float64) string {
	if a == nil || b == nil || *b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *a / *b)
}

func diff(a, b *float64) string {
	if a == nil || b == nil {
		return "-"
	}
	return fmt.Sprintf("%+.3f", *a-*b)
}

// cmdReport reads the results of each setup (name=file, files written by `benchtool result`),
// writes the report as JSON and prints it as a table.
func cmdReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "where to write the JSON report")
	duration := fs.Int("duration", 0, "seconds per measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *duration <= 0 {
		return errors.New("report: -out and -duration are required")
	}
	results := map[string]*Result{}
	for _, a := range fs.Args() {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("report: %q is not name=file", a)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		var res Result
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("report: parsing %s: %w", path, err)
		}
		results[name] = &res
	}
	meta := Meta{Date: time.Now().UTC().Format(time.RFC3339), Duration: *duration, CPUs: runtime.NumCPU()}
	report, err := buildReport(results, meta)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	writeTable(stdout, report)
	return nil
}
