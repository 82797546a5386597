// Package admin is the proxy's admin server: readiness, Prometheus metrics, a dump of the
// running configuration, and a drain trigger. It listens on loopback only, since it exposes
// the configuration and can drain the proxy.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
	"github.com/weftmesh/weft/internal/wire"
)

// DefaultAddr is the default admin address.
const DefaultAddr = "127.0.0.1:15000"

// Identity is what the admin server shows of the proxy's certificate; never its key.
// *identity.Manager implements it.
type Identity interface {
	SPIFFEID() string
	Expiry() time.Time
	SerialNumber() string
}

// Config configures the admin server.
type Config struct {
	// Addr is the listen address; its host must be a loopback IP or "localhost".
	Addr string
	// Version is the proxy's build version, shown in /config_dump.
	Version string
	// Stats serves /stats/prometheus (required).
	Stats *stats.Registry
	// Ready answers nil when the proxy is ready, else the reason it is not (required).
	Ready func() error
	// Drain starts draining the proxy, as SIGTERM does (required). It must not block and may
	// be called more than once.
	Drain func()
	// Identity, XDSStatus and Config feed /config_dump; each may be nil (shown as null).
	Identity  Identity
	XDSStatus func() any
	Config    func() *config.Config
	// Plaintext feeds GET /mtls/plaintext (nil: 404).
	Plaintext func() wire.PlaintextReport
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := ValidateAddr(c.Addr); err != nil {
		return err
	}
	switch {
	case c.Stats == nil:
		return errors.New("admin: a stats registry is required")
	case c.Ready == nil:
		return errors.New("admin: a readiness function is required")
	case c.Drain == nil:
		return errors.New("admin: a drain function is required")
	}
	return nil
}

// ValidateAddr checks that addr is a host:port whose host is a loopback IP or "localhost".
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: address %q is not host:port: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("admin: address %q has a bad port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("admin: address %q must be on loopback (127.0.0.1, ::1 or localhost): the admin server exposes the configuration and can drain the proxy", addr)
	}
	return nil
}

// Server is the admin HTTP server.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *http.Server

	mu sync.Mutex
	ln net.Listener
}

// New returns a server for cfg; it does not listen yet.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler returns the admin endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /stats/prometheus", s.stats)
	mux.HandleFunc("GET /config_dump", s.configDump)
	mux.HandleFunc("POST /drain", s.drain)
	mux.HandleFunc("GET /mtls/plaintext", s.plaintext)
	return mux
}

// stats writes the metrics in the Prometheus text format.
func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := s.cfg.Stats.WritePrometheus(w); err != nil {
		s.log.Debug("writing /stats/prometheus", "error", err)
	}
}

// Listen binds the configured address and returns the bound address.
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil, errors.New("admin: already listening")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listening on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve serves on the listener bound by Listen until ctx is done, then shuts down, giving
// requests in progress up to a second.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("admin: Serve called before Listen")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin: serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutCtx); err != nil {
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.cfg.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) drain(w http.ResponseWriter, _ *http.Request) {
	s.log.Info("drain requested on the admin server")
	s.cfg.Drain()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "draining")
}

func (s *Server) configDump(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, "the config dump", s.dump())
}

// writeJSON answers with v as indented JSON, never cached: what it shows changes from one
// request to the next. what names v in the error when encoding fails.
func (s *Server) writeJSON(w http.ResponseWriter, what string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.log.Error("encoding "+what+" failed", "error", err)
		http.Error(w, "encoding "+what+" failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(data, '\n'))
}
