package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// fortioRun is the part of `fortio load -json` output the benchmark reads.
type fortioRun struct {
	RequestedQPS      string
	ActualQPS         float64
	ActualDuration    time.Duration // nanoseconds in the JSON
	NumThreads        int
	RetCodes          map[string]int64
	DurationHistogram struct {
		Count       int64
		Percentiles []struct {
			Percentile float64
			Value      float64 // seconds
		}
	}
}

// readFortio reads and checks a fortio JSON result file.
func readFortio(path string) (*fortioRun, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading fortio result: %w", err)
	}
	var r fortioRun
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parsing fortio result %s: %w", path, err)
	}
	if r.DurationHistogram.Count == 0 || r.ActualDuration <= 0 {
		return nil, fmt.Errorf("fortio result %s holds no request", path)
	}
	return &r, nil
}

// percentileMS returns a latency percentile in milliseconds.
func (r *fortioRun) percentileMS(p float64) (float64, error) {
	for _, pc := range r.DurationHistogram.Percentiles {
		if pc.Percentile == p {
			return pc.Value * 1000, nil
		}
	}
	return 0, fmt.Errorf("fortio result has no p%g: pass -p \"50,99\" to fortio", p)
}

// failed returns how many requests did not get a 200.
func (r *fortioRun) failed() int64 {
	var n int64
	for code, count := range r.RetCodes {
		if code != "200" {
			n += count
		}
	}
	return n
}
