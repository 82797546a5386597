// Package listener owns the proxy's listening sockets: it binds an address, runs the accept
// loop, hands each connection to a handler on its own goroutine, and tracks the connections so
// that a drain can wait for them and a close can end them.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Gauge counts open connections (prometheus.Gauge fits).
type Gauge interface {
	Inc()
	Dec()
}

// Config configures a Listener.
type Config struct {
	// Name of the listener, for logs.
	Name string
	// Address to bind, host:port (port 0 picks a free port).
	Address string
	// Handler serves one connection; it returns when the connection is done. The listener
	// closes the connection after Handler returns. Required.
	Handler func(c net.Conn)
	// Active, if set, counts the connections being served.
	Active Gauge
	// Logger (nil discards).
	Logger *slog.Logger
}

// Listener is a bound socket with its accept loop.
type Listener struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener

	startOnce sync.Once
	stopOnce  sync.Once
	loopDone  chan struct{}
	stopping  chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Bind binds cfg.Address. The accept loop starts with Start.
func Bind(cfg Config) (*Listener, error) {
	if cfg.Handler == nil {
		return nil, errors.New("listener: Handler is required")
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", cfg.Address, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		cfg:      cfg,
		log:      log.With("listener", cfg.Name),
		ln:       ln,
		loopDone: make(chan struct{}),
		stopping: make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}, nil
}

// Addr returns the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Start runs the accept loop in the background.
func (l *Listener) Start() {
	l.startOnce.Do(func() { go l.acceptLoop() })
}

func (l *Listener) acceptLoop() {
	defer close(l.loopDone)
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little and go on.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			l.log.Warn("accept failed", "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.stopping:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if !l.track(c) {
			_ = c.Close()
			continue
		}
		go l.serve(c)
	}
}

func (l *Listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *Listener) serve(c net.Conn) {
	if l.cfg.Active != nil {
		l.cfg.Active.Inc()
	}
	defer func() {
		_ = c.Close()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		if l.cfg.Active != nil {
			l.cfg.Active.Dec()
		}
		l.wg.Done() // last: Wait returning means every count is settled
	}()
	l.cfg.Handler(c)
}

// Stop closes the socket: no new connection is accepted. Connections being served go on.
func (l *Listener) Stop() {
	l.stopOnce.Do(func() {
		close(l.stopping)
		_ = l.ln.Close()
		l.startOnce.Do(func() { close(l.loopDone) }) // never started: nothing to wait for
		<-l.loopDone
	})
}

// Wait waits until every connection has been served, or ctx is done (then it returns ctx's
// error). Call it after Stop.
func (l *Listener) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseConns closes every connection being served and refuses new ones.
func (l *Listener) CloseConns() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Conns returns the number of connections being served.
func (l *Listener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
