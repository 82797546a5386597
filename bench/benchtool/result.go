package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Result is what the benchmark reports for one setup. Nil means not applicable (no proxy to
// measure, for "direct").
type Result struct {
	// MaxRPS is the requests per second at -qps 0 -c 32.
	MaxRPS *float64 `json:"max_rps"`
	// P50MS and P99MS are latency percentiles at a fixed 1000 requests per second (-c 16).
	P50MS *float64 `json:"p50_ms"`
	P99MS *float64 `json:"p99_ms"`
	// RSSIdleMB and RSSLoadMB are the larger VmRSS of the two proxies (MiB): after start,
	// and the peak during the max-rps run.
	RSSIdleMB *float64 `json:"rss_idle_mb"`
	RSSLoadMB *float64 `json:"rss_load_mb"`
	// VCPUPerKRPS is the CPU the two proxies use per 1000 requests/s, in vCPU, over the fixed
	// 1000 requests/s run.
	VCPUPerKRPS *float64 `json:"vcpu_per_krps"`
}

// optionalFloat is a float flag that may be left unset.
type optionalFloat struct{ v *float64 }

func (o *optionalFloat) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'f', -1, 64)
}

func (o *optionalFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	o.v = &f
	return nil
}

// resultInputs are the measurements of one setup.
type resultInputs struct {
	Max, Fixed          *fortioRun
	RSSIdle, RSSLoad    *float64
	CPUBefore, CPUAfter *float64 // CPU seconds of the proxies before and after the fixed run
}

// computeResult turns the measurements of one setup into its Result.
func computeResult(in resultInputs) (*Result, error) {
	p50, err := in.Fixed.percentileMS(50)
	if err != nil {
		return nil, err
	}
	p99, err := in.Fixed.percentileMS(99)
	if err != nil {
		return nil, err
	}
	r := &Result{
		MaxRPS:    ptr(round(in.Max.ActualQPS, 0)),
		P50MS:     ptr(round(p50, 3)),
		P99MS:     ptr(round(p99, 3)),
		RSSIdleMB: roundPtr(in.RSSIdle, 1),
		RSSLoadMB: roundPtr(in.RSSLoad, 1),
	}
	if (in.CPUBefore == nil) != (in.CPUAfter == nil) {
		return nil, errors.New("give both -cpu-before and -cpu-after, or neither")
	}
	if in.CPUBefore != nil {
		seconds := in.Fixed.ActualDuration.Seconds()
		krps := in.Fixed.ActualQPS / 1000
		if krps <= 0 {
			return nil, errors.New("the fixed-rate run served no request")
		}
		vcpu := (*in.CPUAfter - *in.CPUBefore) / seconds / krps
		r.VCPUPerKRPS = ptr(round(vcpu, 4))
	}
	return r, nil
}

// cmdResult prints one setup's Result as JSON.
func cmdResult(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("result", flag.ContinueOnError)
	maxPath := fs.String("max", "", "fortio JSON of the max-rps run")
	fixedPath := fs.String("fixed", "", "fortio JSON of the fixed 1000 qps run")
	var rssIdle, rssLoad, cpuBefore, cpuAfter optionalFloat
	fs.Var(&rssIdle, "rss-idle", "proxies' idle RSS, MiB")
	fs.Var(&rssLoad, "rss-load", "proxies' peak RSS under load, MiB")
	fs.Var(&cpuBefore, "cpu-before", "proxies' CPU seconds before the fixed run")
	fs.Var(&cpuAfter, "cpu-after", "proxies' CPU seconds after the fixed run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *maxPath == "" || *fixedPath == "" {
		return errors.New("result: -max and -fixed are required")
	}
	in := resultInputs{RSSIdle: rssIdle.v, RSSLoad: rssLoad.v, CPUBefore: cpuBefore.v, CPUAfter: cpuAfter.v}
	var err error
	if in.Max, err = readFortio(*maxPath); err != nil {
		return err
	}
	if in.Fixed, err = readFortio(*fixedPath); err != nil {
		return err
	}
	for name, run := range map[string]*fortioRun{*maxPath: in.Max, *fixedPath: in.Fixed} {
		if n := run.failed(); n > 0 {
			fmt.Fprintf(stderr, "warning: %s: %d of %d requests did not get a 200 (%v)\n", name, n, run.DurationHistogram.Count, run.RetCodes)
		}
	}
	r, err := computeResult(in)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(out))
	return nil
}

func ptr(f float64) *float64 { return &f }

func round(f float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(f*p) / p
}

func roundPtr(f *float64, decimals int) *float64 {
	if f == nil {
		return nil
	}
	return ptr(round(*f, decimals))
}
