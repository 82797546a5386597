// Command benchtool holds the small helpers of bench/mesh.sh that would be hairy in bash:
// choosing free ports, reading a process's memory and CPU time from /proc, turning fortio's
// JSON output into one result per setup, and writing the report (bench/results/latest.json).
//
//	benchtool ports N                       N free ports on 127.0.0.1, one per line
//	benchtool rss PID...                    the largest VmRSS of the processes now, in MiB
//	benchtool rss-watch -for 10s PID...     the largest VmRSS seen while sampling, in MiB
//	benchtool cpu [-clk-tck 100] PID...     utime+stime of the processes, summed, in seconds
//	benchtool result -max F -fixed F [...]  one setup's result as JSON (see resultFlags)
//	benchtool report -out F -duration S name=FILE...
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand; its results go to stdout, warnings to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchtool ports|rss|rss-watch|cpu|result|report ...")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "ports":
		return cmdPorts(args, stdout)
	case "rss":
		return cmdRSS(args, stdout)
	case "rss-watch":
		return cmdRSSWatch(args, stdout)
	case "cpu":
		return cmdCPU(args, stdout)
	case "result":
		return cmdResult(args, stdout, stderr)
	case "report":
		return cmdReport(args, stdout)
	default:
		return fmt.Errorf("unknown command %q: want ports, rss, rss-watch, cpu, result or report", cmd)
	}
}
