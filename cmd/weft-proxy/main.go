// Command weft-proxy is Weft's proxy, run next to a workload (sidecar mode) or at the edge
// (gateway mode). It reads its flags and its bootstrap (how to reach weftd), then hands over to
// internal/proxy/agent. See docs/proxy.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/weftmesh/weft/internal/proxy/agent"
	"github.com/weftmesh/weft/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0 after a clean stop, 1 on failure, 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "weft-proxy:", err)
		return 2
	}
	if opts.printVersion {
		fmt.Fprintln(stdout, version.String())
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.logLevel}))

	joinToken, err := readJoinToken(opts, log)
	if err != nil {
		log.Error("cannot read the join token", "error", err)
		return 1
	}
	cc, err := loadClientConfig(opts.bootstrap, joinToken)
	if err != nil {
		log.Error("cannot read the proxy bootstrap (--bootstrap)", "path", opts.bootstrap, "error", err)
		return 1
	}
	if id, ok := joinTokenID(joinToken); ok {
		log.Info("authenticating to weftd with a join token", "tokenID", id)
	} else if perm, open := openToOthers(opts.bootstrap); open {
		log.Warn("the bootstrap holds a token and is readable by other users; chmod 600 it", "path", opts.bootstrap, "mode", perm.String())
	}
	cfg := opts.agent
	cfg.ClientConfig = cc
	cfg.BuildVersion = version.String()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the proxy without waiting for the drain
	}()

	log.Info("weft-proxy starting", "version", cfg.BuildVersion, "mode", cfg.Mode, "id", cfg.ID)
	if err := agent.Run(ctx, cfg, log); err != nil {
		log.Error("weft-proxy failed", "error", err)
		return 1
	}
	return 0
}
