package http1

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// Request is a parsed request head. Its byte slices point into the connection's buffer and
// are valid only during the call to Server.Route.
type Request struct {
	req request
}

// Dialer opens a connection to one upstream endpoint, with TLS already established if any.
type Dialer func(ctx context.Context) (net.Conn, error)

// Decision is what Route answers for a request.
type Decision struct {
	// Pool is the endpoint to forward to. When nil, the proxy answers locally with Status.
	Pool *Pool
	// Status of the local answer when Pool is nil: 404 no route, 503 no healthy endpoint, ...
	// Zero means 404; a value outside 100-599 means 500.
	Status int
	// Timeout bounds the whole exchange with the upstream; zero means none.
	Timeout time.Duration
	// Body, when set, is the text of the local answer (one short line) in place of the
	// status's reason phrase.
	Body string
	// Target, when set, is sent upstream as the request-target in place of the client's (for
	// example with its path normalised). It must stay valid until the connection's next
	// call to Route.
	Target []byte
}

// Server serves HTTP/1.1 on connections handed to ServeConn. Route is required (without it,
// every request is answered 500). A Server may serve many connections at once; its fields
// must not change once it serves.
type Server struct {
	// Route picks the upstream for a request. It must not keep r.
	Route func(r *Request) Decision
	// Observe, if set, is called once per finished request with the status sent downstream
	// (0 if the downstream went away).
	Observe func(status int)
	// Logger receives per-request failures at debug level (nil: no logging).
	Logger *slog.Logger
	// ReadHeaderTimeout bounds reading a request head (default 10s); IdleTimeout bounds the wait
	// for the next request on a kept-alive connection (default 60s). IdleTimeout also bounds
	// the silences of a client while it sends a request body or reads a response.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds a request or response head (default 32 KiB), and a trailer section.
	MaxHeaderBytes int
}

// Method returns the request method.
func (r *Request) Method() []byte { return r.req.method }

// Path returns the path of the request-target, without the query ("*" for "OPTIONS *", "/" for
// an absolute-form target with an empty path).
func (r *Request) Path() []byte { return r.req.path }

// RawTarget returns the request-target as the client sent it.
func (r *Request) RawTarget() []byte { return r.req.target }

// Host returns the authority of the request: the Host field, or the authority of an
// absolute-form target. It is empty when there is neither (HTTP/1.0).
func (r *Request) Host() []byte { return r.req.host }

// Header returns the first value of the header field called name, matched without regard to
// case, and whether there is one.
func (r *Request) Header(name string) ([]byte, bool) { return r.req.header(name) }

// ProtoMinor returns the minor version of the request: 0 for HTTP/1.0, 1 for HTTP/1.1.
func (r *Request) ProtoMinor() int { return int(r.req.minor) }
