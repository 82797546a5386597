// Package h2 is the proxy's net/http path: it serves HTTP/2 (ALPN h2 over TLS, or h2c with
// prior knowledge) and the HTTP/1.1 connections that cannot take the fast path (those that
// reach an HTTP/2 cluster), and forwards requests with httputil.ReverseProxy to a cluster
// endpoint's RoundTripper. gRPC works through it: streaming both ways, trailers preserved,
// and failures answered as gRPC statuses.
//
// It uses the HTTP/2 support built into net/http (golang.org/x/net/http2's server and
// transport are deprecated wrappers of it).
package h2

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Handler serves every request (required).
	Handler http.Handler
	// Logger (nil discards).
	Logger *slog.Logger
	// ReadHeaderTimeout bounds reading a request head (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection idle this long (default 60s).
	IdleTimeout time.Duration
	// ConnContext, if set, derives the base context of a connection's requests (see
	// http.Server.ConnContext).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
}

// Server serves connections handed to it one by one with net/http: HTTP/2 when the TLS
// connection negotiated h2 or the cleartext connection opens with the HTTP/2 preface, HTTP/1.1
// otherwise. Shutdown drains them: HTTP/1.1 connections finish their request and close,
// HTTP/2 connections get a GOAWAY and finish their streams.
type Server struct {
	hs      *http.Server
	ln      *connListener
	served  chan struct{}
	mu      sync.Mutex
	waiting map[net.Conn]chan struct{}
}

// NewServer starts a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("h2 server: Handler is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	s := &Server{
		ln:      newConnListener(),
		served:  make(chan struct{}),
		waiting: make(map[net.Conn]chan struct{}),
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	s.hs = &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		Protocols:         &protos,
		ConnState:         s.connState,
		ConnContext:       cfg.ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		_ = s.hs.Serve(s.ln)
	}()
	return s, nil
}

// ServeConn serves c and returns when net/http is done with it (closed, or hijacked by an
// upgrade). If the server is shut down, c is closed.
func (s *Server) ServeConn(c net.Conn) {
	done := make(chan struct{})
	s.mu.Lock()
	s.waiting[c] = done
	s.mu.Unlock()
	if !s.ln.push(c) {
		s.release(c)
		_ = c.Close()
		return
	}
	<-done
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		s.release(c)
	}
}

func (s *Server) release(c net.Conn) {
	s.mu.Lock()
	done, ok := s.waiting[c]
	delete(s.waiting, c)
	s.mu.Unlock()
	if ok {
		close(done)
	}
}

// Shutdown stops taking connections and drains those it serves until ctx is done, then
// closes them. It returns ctx's error if it had to close connections.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err != nil {
		_ = s.hs.Close()
	}
	<-s.served
	s.releaseAll()
	return err
}

// Close closes every connection at once.
func (s *Server) Close() error {
	err := s.hs.Close()
	<-s.served
	s.releaseAll()
	return err
}

// releaseAll unblocks ServeConn callers whose connection net/http did not report closed (one
// accepted just as the server closed).
func (s *Server) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		return
	}
	for c, done := range s.waiting {
		_ = c.Close()
		close(done)
	}
	s.waiting = make(map[net.Conn]chan struct{})
}

// connListener is a net.Listener fed by push.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "proxy" }
