package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// cmdPorts prints n free TCP ports on 127.0.0.1, chosen by the OS, all different.
func cmdPorts(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: benchtool ports N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 100 {
		return fmt.Errorf("ports: %q is not a count from 1 to 100", args[0])
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("choosing a free port: %w", err)
		}
		listeners = append(listeners, l)
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// parsePIDs parses process IDs given as arguments.
func parsePIDs(args []string) ([]int, error) {
	if len(args) == 0 {
		return nil, errors.New("no process ID given")
	}
	pids := make([]int, 0, len(args))
	for _, a := range args {
		pid, err := strconv.Atoi(a)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%q is not a process ID", a)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// vmRSSKiB returns the VmRSS line of a /proc/<pid>/status file, in KiB.
func vmRSSKiB(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, errors.New("no VmRSS line (a kernel thread, or a zombie?)")
}

// maxRSSMiB returns the largest VmRSS of the processes, in MiB.
func maxRSSMiB(pids []int) (float64, error) {
	var maxKiB int64
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, fmt.Errorf("reading the memory of process %d: %w", pid, err)
		}
		kib, err := vmRSSKiB(status)
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		maxKiB = max(maxKiB, kib)
	}
	return float64(maxKiB) / 1024, nil
}

func cmdRSS(args []string, stdout io.Writer) error {
	pids, err := parsePIDs(args)
	if err != nil {
		return fmt.Errorf("rss: %w", err)
	}
	mib, err := maxRSSMiB(pids)
	if err != nil {
		return fmt.Errorf("rss: %w", err)
	}
	fmt.Fprintf(stdout, "%.1f\n", mib)
	return nil
}

// cmdRSSWatch samples the processes' VmRSS for a while and prints the largest value seen.
func cmdRSSWatch(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rss-watch", flag.ContinueOnError)
	period := fs.Duration("for", 10*time.Second, "how long to sample")
	interval := fs.Duration("every", 100*time.Millisecond, "sampling interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pids, err := parsePIDs(fs.Args())
	if err != nil {
		return fmt.Errorf("rss-watch: %w", err)
	}
	deadline := time.Now().Add(*period)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	peak, samples := 0.0, 0
	for {
		if mib, err := maxRSSMiB(pids); err == nil {
			peak = max(peak, mib)
			samples++
		}
		if time.Now().After(deadline) {
			break
		}
		<-ticker.C
	}
	if samples == 0 {
		return fmt.Errorf("rss-watch: could not read the memory of %v", pids)
	}
	fmt.Fprintf(stdout, "%.1f\n", peak)
	return nil
}

// cpuTicks returns utime+stime from a /proc/<pid>/stat file, in clock ticks.
func cpuTicks(stat []byte) (int64, error) {
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed stat line")
	}
	fields := strings.Fields(string(stat[end+1:]))
	// After comm: state is field 3 of stat(5), utime 14 and stime 15, i.e. indexes 11 and 12 here.
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after comm, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parsing utime/stime: %w", err)
	}
	return utime + stime, nil
}

// cmdCPU prints the CPU time (user + system) the processes used so far, summed, in seconds.
func cmdCPU(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cpu", flag.ContinueOnError)
	clkTck := fs.Int("clk-tck", 100, "clock ticks per second (getconf CLK_TCK)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pids, err := parsePIDs(fs.Args())
	if err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	if *clkTck <= 0 {
		return fmt.Errorf("cpu: -clk-tck %d must be positive", *clkTck)
	}
	var total int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return fmt.Errorf("cpu: reading process %d: %w", pid, err)
		}
		ticks, err := cpuTicks(stat)
		if err != nil {
			return fmt.Errorf("cpu: process %d: %w", pid, err)
		}
		total += ticks
	}
	fmt.Fprintf(stdout, "%.3f\n", float64(total)/float64(*clkTck))
	return nil
}
