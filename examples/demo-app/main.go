// Command demo-app is the application of the Weft demo: a small HTTP service that answers who
// it is and, before answering, calls the services it depends on.
//
// It knows nothing of the mesh. Its downstreams are plain http:// URLs on 127.0.0.1: the
// outbound listeners of its own weft-proxy sidecar, which carry each call over mutual TLS to a
// workload of the destination service, following the routes applied to weftd.
//
//	demo-app --name web-api --version v1 --listen 127.0.0.1:9001 --call http://127.0.0.1:9101/
//
// GET / answers 200 with
//
//	{"service":"web-api","version":"v1","calls":[ ...the JSON answers of the downstreams... ]}
//
// or 502 with an "error" field naming the downstream that failed. GET /healthz answers 200.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	var cfg config
	var calls stringList
	flag.StringVar(&cfg.Name, "name", "", "service name this app reports (required)")
	flag.StringVar(&cfg.Version, "version", "v1", "version this app reports")
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	flag.Var(&calls, "call", "URL of a downstream to call on every request (repeatable, or a comma-separated list)")
	flag.DurationVar(&cfg.Timeout, "timeout", 2*time.Second, "timeout of each downstream call")
	flag.Parse()
	cfg.Calls = calls

	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", cfg.Name, "version", cfg.Version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("demo-app stopped", "error", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	Name    string
	Version string
	Listen  string
	Calls   []string
	Timeout time.Duration
}

// run serves HTTP on cfg.Listen until ctx is done, then shuts down gracefully.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	if cfg.Name == "" {
		return errors.New("--name is required")
	}
	srv := &http.Server{
		Addr:              cfg.Listen,
		Handler:           newApp(cfg),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "listen", cfg.Listen, "calls", cfg.Calls)

	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", cfg.Listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// stringList is a repeatable flag; each value may also be a comma-separated list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
