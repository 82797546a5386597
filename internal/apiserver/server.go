// Package apiserver serves weftd's HTTPS API (docs/architecture.md): applying and reading
// resources, the workload registry, and workload certificates. The wire types are those of
// internal/apiclient. Every call needs the admin bearer token, except the few a proxy makes,
// which a join token bound to the proxy's identity, or the proxy's workload certificate, may
// make instead (auth.go).
package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/wire"
)

// DefaultMaxBodyBytes bounds request bodies when the Config does not.
const DefaultMaxBodyBytes = 4 << 20

// Registry is what the API needs of the workload registry.
type Registry interface {
	Register(w wire.Workload) (wire.Workload, error)
	Renew(id string) (wire.Workload, error)
	Deregister(id string) error
	Get(id string) (wire.Workload, error)
	List() []wire.Workload
	// RecordCertificate records the certificate issued to a workload; Certificate returns
	// the record, if any.
	RecordCertificate(id string, c registry.CertInfo) error
	Certificate(id string) (registry.CertInfo, bool)
	TTL() time.Duration
}

// CSRAuthorizer decides whether the caller of a certificate request may obtain a certificate
// for an identity. workload is the registered workload the request names, or nil.
type CSRAuthorizer interface {
	AuthorizeCSR(r *http.Request, id mesh.SPIFFEID, workload *wire.Workload) error
}

// AllowAuthenticated lets every authenticated caller obtain any identity of the mesh's trust
// domain that its credential allows: the admin token any, a join token only its own (the
// server enforces that before any CSRAuthorizer runs).
type AllowAuthenticated struct{}

// AuthorizeCSR allows the request.
func (AllowAuthenticated) AuthorizeCSR(*http.Request, mesh.SPIFFEID, *wire.Workload) error {
	return nil
}

// Config configures the API server.
type Config struct {
	// Token is the bearer credential every call must present.
	Token string
	// Store keeps the resources.
	Store store.Store
	// Registry keeps the workloads.
	Registry Registry
	// Authority signs workload certificates.
	Authority ca.Authority
	// CA, when set, serves POST /v1/ca/rotate and GET /v1/ca/status, checks an applied
	// Mesh's spec.ca, and asks proxies to renew during a rotation (ca.go).
	CA CAService
	// Authorizer decides who may obtain which certificate (default AllowAuthenticated). A
	// join token caller is limited to its token's identity before it is asked.
	Authorizer CSRAuthorizer
	// ClientTrust, when set, returns the current workload trust bundle: a request whose TLS
	// client certificate chains to it, unexpired, authenticates as the certificate's SPIFFE
	// ID with a join token's rights (auth.go). The TLS server must request client
	// certificates for this to apply.
	ClientTrust func() *x509.CertPool
	// Tokens, when set, keeps the join tokens: they authenticate proxies for one identity,
	// and POST/GET /v1/tokens and DELETE /v1/tokens/{id} manage them.
	Tokens JoinTokens
	// Version is weftd's version, served at /v1/version.
	Version string
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	// Registerer, when set, receives the API's metrics.
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds request bodies (default 4 MiB).
	MaxBodyBytes int64
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case len(c.Token) < 16:
		return errors.New("apiserver: a token of at least 16 characters is required")
	case c.Store == nil:
		return errors.New("apiserver: a store is required")
	case c.Registry == nil:
		return errors.New("apiserver: a registry is required")
	case c.Authority == nil:
		return errors.New("apiserver: a certificate authority is required")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("apiserver: max body bytes %d is negative", c.MaxBodyBytes)
	}
	return nil
}

// Server is the API's http.Handler.
type Server struct {
	cfg       Config
	log       *slog.Logger
	tokenHash [sha256.Size]byte
	handler   http.Handler
	requests  *prometheus.CounterVec
}

// New returns the API server.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = AllowAuthenticated{}
	}
	cfg.Authorizer = tokenIdentity{next: cfg.Authorizer}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{cfg: cfg, log: log, tokenHash: sha256.Sum256([]byte(cfg.Token))}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weftd_api_requests_total",
		Help: "API requests by route and status code.",
	}, []string{"route", "code"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.requests); err != nil {
			return nil, fmt.Errorf("registering API metrics: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", s.version)
	mux.HandleFunc("POST /v1/apply", s.apply)
	mux.HandleFunc("GET /v1/resources/{kind}", s.listResources)
	mux.HandleFunc("GET /v1/resources/{kind}/{namespace}/{name}", s.getResource)
	mux.HandleFunc("DELETE /v1/resources/{kind}/{namespace}/{name}", s.deleteResource)
	mux.HandleFunc("GET /v1/workloads", s.listWorkloads)
	mux.HandleFunc("POST /v1/workloads", s.registerWorkload)
	mux.HandleFunc("PUT /v1/workloads/{id}/lease", s.renewWorkload)
	mux.HandleFunc("DELETE /v1/workloads/{id}", s.deregisterWorkload)
	mux.HandleFunc("POST /v1/certificates", s.signCertificate)
	s.handleTokens(mux)
	s.handleCA(mux)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such call: %s %s", r.Method, r.URL.Path))
	})
	s.handler = s.observe(s.authenticate(mux))
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// observe counts and logs requests (never their headers: they carry the token).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start), "remote", r.RemoteAddr)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// trustDomain is the mesh's current trust domain.
func (s *Server) trustDomain(ctx context.Context) (string, error) {
	m, err := store.EffectiveMesh(ctx, s.cfg.Store)
	if err != nil {
		return "", fmt.Errorf("reading the Mesh: %w", err)
	}
	return m.Spec.TrustDomain, nil
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, versionInfo(s.cfg.Version))
}
