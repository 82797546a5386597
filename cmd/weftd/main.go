// Command weftd is Weft's control plane: it keeps the resources and the workload registry,
// signs workload certificates and serves xDS. Flags are documented in docs/architecture.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/weftmesh/weft/internal/controlplane"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "weftd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("weftd", flag.ContinueOnError)
	var (
		cfg         = controlplane.Config{Version: version}
		logLevel    string
		showVersion bool
	)
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "where the store, CA and credentials live")
	fs.StringVar(&cfg.APIAddr, "api-addr", controlplane.DefaultAPIAddr, "HTTPS API address")
	fs.StringVar(&cfg.XDSAddr, "xds-addr", controlplane.DefaultXDSAddr, "ADS (xDS over gRPC, mutual TLS) address")
	fs.Func("san", "extra DNS name or IP for the serving certificate (repeatable)", func(s string) error {
		cfg.ExtraSANs = append(cfg.ExtraSANs, s)
		return nil
	})
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", controlplane.DefaultLeaseTTL, "a workload whose proxy stops renewing leaves the registry after this")
	fs.DurationVar(&cfg.Debounce, "debounce", controlplane.DefaultDebounce, "how long changes gather before a push")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if showVersion {
		fmt.Println("weftd", version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return controlplane.Run(ctx, cfg, log)
}

func defaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".weft", "weftd")
	}
	return filepath.Join(home, ".weft", "weftd")
}
