package h2

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/weftmesh/weft/internal/proxy/cluster"
)

// Target is where a request goes.
type Target struct {
	// Endpoint to forward to. When nil, the proxy answers locally with Status.
	Endpoint *cluster.Endpoint
	// Status of the local answer (404 no route, 503 no endpoint, a route's direct status).
	Status int
	// Timeout bounds the whole exchange with the upstream; zero means none.
	Timeout time.Duration
	// Message, when set, is the text of the local answer (the grpc-message of a gRPC
	// request) in place of the status text.
	Message string
}

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	// Resolve routes a request (required).
	Resolve func(r *http.Request) Target
	// Observe, if set, is called once per request with the status sent downstream (0 when the
	// downstream went away before an answer).
	Observe func(status int)
	// Logger (nil discards).
	Logger *slog.Logger
}

// Forwarder is an http.Handler that routes each request with Resolve and forwards it to the
// chosen endpoint's Transport.
type Forwarder struct {
	resolve func(r *http.Request) Target
	observe func(status int)
	log     *slog.Logger
	rp      *httputil.ReverseProxy
}

type targetKey struct{}

// NewForwarder returns a Forwarder.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.Resolve == nil {
		return nil, errors.New("h2 forwarder: Resolve is required")
	}
	f := &Forwarder{resolve: cfg.Resolve, observe: cfg.Observe, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.observe == nil {
		f.observe = func(int) {}
	}
	f.rp = &httputil.ReverseProxy{
		Rewrite:       rewrite,
		Transport:     endpointTransport{},
		FlushInterval: -1,
		ErrorHandler:  f.upstreamError,
		BufferPool:    &bufferPool{},
		ErrorLog:      slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
	}
	return f, nil
}

// rewrite points the outbound request at the chosen endpoint, keeping the authority, and keeps
// the X-Forwarded-* headers the downstream sent (a sidecar is transparent to them).
func rewrite(pr *httputil.ProxyRequest) {
	ep := pr.Out.Context().Value(targetKey{}).(*cluster.Endpoint)
	pr.Out.URL.Scheme = ep.Scheme()
	pr.Out.URL.Host = ep.Address()
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[h]; ok {
			pr.Out.Header[h] = v
		}
	}
}

// endpointTransport sends a request through the Transport of the endpoint in its context.
type endpointTransport struct{}

func (endpointTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ep, ok := r.Context().Value(targetKey{}).(*cluster.Endpoint)
	if !ok {
		return nil, errors.New("no upstream endpoint chosen")
	}
	return ep.Transport().RoundTrip(r)
}

// ServeHTTP routes and forwards one request.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	t := f.resolve(r)
	if t.Endpoint == nil {
		status := t.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		msg := t.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		localAnswer(sw, r, status, msg)
		f.observe(sw.status)
		return
	}
	ctx := r.Context()
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	ctx = context.WithValue(ctx, targetKey{}, t.Endpoint)
	f.rp.ServeHTTP(sw, r.WithContext(ctx))
	t.Endpoint.Finished()
	f.observe(sw.status)
}

// upstreamError answers a request the upstream failed: 502, 504 on timeout, or for gRPC an
// HTTP 200 with grpc-status UNAVAILABLE.
func (f *Forwarder) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		// The downstream went away; nobody reads an answer.
		f.log.Debug("downstream gone before the upstream answered", "path", r.URL.Path, "error", err)
		return
	}
	status := http.StatusBadGateway
	msg := "upstream unavailable"
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
		msg = "upstream request timeout"
	}
	f.log.Warn("upstream request failed", "host", r.Host, "path", r.URL.Path, "upstream", r.URL.Host, "error", err)
	if isGRPC(r) {
		writeGRPCStatus(w, grpcUnavailable, msg+": "+err.Error())
		return
	}
	localAnswer(w, r, status, msg)
}

// localAnswer answers a request without an upstream, as a gRPC status for gRPC requests.
func localAnswer(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isGRPC(r) {
		writeGRPCStatus(w, grpcCodeOf(status), msg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// statusWriter records the status sent downstream, and keeps a gRPC trailers-only response
// (grpc-status among the headers, no body) in one HEADERS frame with END_STREAM: a flush
// would send the headers alone, and gRPC clients would then miss the status.
type statusWriter struct {
	http.ResponseWriter
	status       int
	trailersOnly bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.trailersOnly = w.Header().Get("Grpc-Status") != ""
	}
	w.ResponseWriter.WriteHeader(code)
}

// FlushError flushes, except for a trailers-only gRPC response (see statusWriter).
func (w *statusWriter) FlushError() error {
	if w.trailersOnly {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer (flush, hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool is the ReverseProxy copy buffer pool.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
