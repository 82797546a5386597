package http1

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxHeaderBytes    = 32 << 10

	writeBufSize = 8 << 10
	// scratchSize is the buffer large bodies are copied through, straight from the socket.
	scratchSize = 32 << 10
	// maxDiscardBody is the largest unread request body the proxy reads and drops to keep a
	// connection alive after answering locally; past it, the connection is closed instead.
	maxDiscardBody = 64 << 10
	// lingerTimeout and maxLingerBytes bound the reading of what a client still sends after
	// the proxy answered an error and closes.
	lingerTimeout  = 500 * time.Millisecond
	maxLingerBytes = 1 << 20
)

var aLongTimeAgo = time.Unix(1, 0)

// serverConn is the state of one downstream connection. It is recycled through connPool so
// that buffers survive from one connection to the next.
type serverConn struct {
	srv    *Server
	ctx    context.Context
	c      net.Conn
	logger *slog.Logger

	maxHead     int
	headTimeout time.Duration
	idleTimeout time.Duration

	rd      reader         // downstream reads
	dw      deadlineWriter // downstream writes, under IdleTimeout
	w       *bufio.Writer  // to the client
	uw      *bufio.Writer  // to the upstream of the current request
	req     Request
	resp    response
	scratch []byte
	body    string // the text of the current local answer, when Route set one

	bodyDone    bool // the current request's body has been read in full
	bodyStarted bool // some of the current request's body has been read
	linger      bool // unread request bytes may be left when the connection closes
	replayable  bool // the current request's body can be sent again (see forward)

	mu       sync.Mutex
	idle     bool     // waiting for the first byte of a request
	tunnelUp net.Conn // the upstream of a running upgrade tunnel
}

var connPool = sync.Pool{New: func() any {
	sc := &serverConn{}
	sc.w = bufio.NewWriterSize(&sc.dw, writeBufSize)
	sc.uw = bufio.NewWriterSize(nil, writeBufSize)
	return sc
}}

func (s *Server) newConn(ctx context.Context, c net.Conn) *serverConn {
	sc := connPool.Get().(*serverConn)
	sc.srv, sc.ctx, sc.c = s, ctx, c
	sc.logger = s.Logger
	sc.maxHead = orDefault(s.MaxHeaderBytes, defaultMaxHeaderBytes)
	sc.headTimeout = orDefault(s.ReadHeaderTimeout, defaultReadHeaderTimeout)
	sc.idleTimeout = orDefault(s.IdleTimeout, defaultIdleTimeout)
	sc.rd.reset(c)
	sc.dw = deadlineWriter{c: c, timeout: sc.idleTimeout}
	sc.w.Reset(&sc.dw)
	sc.idle, sc.tunnelUp, sc.linger = false, nil, false
	return sc
}

func (sc *serverConn) release() {
	sc.srv, sc.ctx, sc.c, sc.logger = nil, nil, nil, nil
	sc.rd.reset(nil)
	if len(sc.rd.buf) > initialBufSize {
		sc.rd.buf = nil // do not keep a buffer grown for one huge head
	}
	sc.dw = deadlineWriter{}
	sc.w.Reset(&sc.dw)
	sc.uw.Reset(nil)
	sc.req.req.reset()
	sc.resp.reset()
	connPool.Put(sc)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// ServeConn serves HTTP/1.x requests on c, one at a time, until the client closes it, an error
// or a timeout ends it, or ctx is done. When ctx is done the connection drains: a request in
// flight finishes and its response carries "Connection: close"; an idle connection is closed
// at once; an upgrade tunnel is closed. ServeConn closes c before it returns.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sc := s.newConn(ctx, c)
	stop := context.AfterFunc(ctx, sc.startDrain)
	for sc.serveOne() {
	}
	if sc.linger {
		sc.lingerClose()
	}
	_ = c.Close()
	if stop() {
		// The drain callback will never run: the state can serve another connection. (When
		// it has run, or is running, the state is left to the garbage collector.)
		sc.release()
	}
}

// startDrain runs when ctx is done: it wakes a connection waiting for a request, and closes a
// running tunnel. Code that sets idle or tunnelUp checks ctx under mu first: either it sees the
// drain, or this callback, which runs after ctx is done, sees what it set.
func (sc *serverConn) startDrain() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.idle {
		_ = sc.c.SetReadDeadline(aLongTimeAgo)
	}
	if sc.tunnelUp != nil {
		_ = sc.c.Close()
		_ = sc.tunnelUp.Close()
	}
}

// isDraining reports whether ctx is done. ctx is asked directly, so that a drain is seen as
// soon as the context is cancelled, before the callback has run; it takes no lock.
func (sc *serverConn) isDraining() bool { return sc.ctx.Err() != nil }

// awaitRequest waits for the first byte of the next request, under IdleTimeout, then starts
// the ReadHeaderTimeout. It reports false when the connection is to be closed.
func (sc *serverConn) awaitRequest() bool {
	sc.mu.Lock()
	if sc.isDraining() {
		sc.mu.Unlock()
		return false
	}
	if sc.rd.buffered() > 0 { // a pipelined request
		err := sc.c.SetReadDeadline(time.Now().Add(sc.headTimeout))
		sc.mu.Unlock()
		return err == nil
	}
	sc.idle = true
	_ = sc.c.SetReadDeadline(time.Now().Add(sc.idleTimeout))
	sc.mu.Unlock()

	sc.rd.setInactivity(nil, 0, time.Time{})
	err := sc.rd.fill()

	sc.mu.Lock()
	sc.idle = false
	if err == nil {
		// This also undoes a drain's wake-up that raced with the arrival of the request: the
		// request is served, with "Connection: close".
		_ = sc.c.SetReadDeadline(time.Now().Add(sc.headTimeout))
	}
	sc.mu.Unlock()
	return err == nil
}

// serveOne serves one request and reports whether the connection stays open.
func (sc *serverConn) serveOne() bool {
	if !sc.awaitRequest() {
		return false
	}
	req := &sc.req.req
	n, err := sc.rd.readBlock(sc.maxHead, true, true)
	if err == nil {
		err = req.parse(sc.rd.buf[sc.rd.r : sc.rd.r+n]) // parse resets req first
	} else {
		req.reset() // the answer below must not see the previous request (its method)
	}
	if err != nil {
		status := 0
		switch {
		case isProtocolError(err):
			status = statusOf(err)
		case isTimeout(err) && sc.rd.buffered() > 0 && !sc.isDraining():
			status = 408 // a head started but did not finish in time
		default:
			return false // the client is gone
		}
		sc.debug("rejected request", "remote", sc.c.RemoteAddr(), "status", status, "error", err)
		sc.linger = true
		if !sc.answer(status, connClose) {
			status = 0
		}
		sc.observe(status)
		return false
	}
	sc.rd.consume(n)
	start := time.Now() // a Decision's Timeout runs from here
	sc.bodyDone, sc.bodyStarted = !req.hasBody(), false

	d := Decision{Status: 500}
	if sc.srv.Route != nil {
		d = sc.srv.Route(&sc.req)
	}
	var status int
	var keep bool
	if d.Target != nil {
		req.target, req.verbatim = d.Target, false
	}
	if d.Pool == nil {
		sc.body = d.Body
		status, keep = sc.local(d.Status, false)
		sc.body = ""
	} else {
		status, keep = sc.forward(d, start)
	}
	sc.observe(status)
	return keep
}

// debug logs a per-request failure, if the Server has a logger.
func (sc *serverConn) debug(msg string, args ...any) {
	if sc.logger != nil {
		sc.logger.Debug(msg, args...)
	}
}

func (sc *serverConn) observe(status int) {
	if sc.srv.Observe != nil {
		sc.srv.Observe(status)
	}
}

// local answers the current request locally and reports the status sent (0 if the client
// went away) and whether the connection stays open. The connection stays open when the
// request body could be read off the connection.
func (sc *serverConn) local(status int, mustClose bool) (int, bool) {
	if status == 0 {
		status = 404
	}
	if status < 100 || status > 599 {
		status = 500
	}
	req := &sc.req.req
	keep := !mustClose && !req.closeAfter && !sc.isDraining() && sc.discardBody()
	conn := connClose
	if keep {
		conn = connNone
		if req.minor == 0 {
			conn = connKeepAlive
		}
	}
	sc.linger = !sc.bodyDone
	if !sc.answer(status, conn) {
		return 0, false
	}
	return status, keep
}

// answer writes a local answer and reports whether it was sent.
func (sc *serverConn) answer(status int, conn connOption) bool {
	writeLocal(sc.w, status, sc.body, conn, string(sc.req.req.method) == "HEAD")
	if err := sc.w.Flush(); err != nil {
		sc.debug("writing a local answer", "remote", sc.c.RemoteAddr(), "error", err)
		return false
	}
	return true
}

// discardBody reads and drops what is left of a small request body, so that the connection
// can carry the next request. It reports whether the body is gone.
func (sc *serverConn) discardBody() bool {
	if sc.bodyDone {
		return true
	}
	req := &sc.req.req
	if sc.bodyStarted || req.chunked || req.expect100 || req.contentLength > maxDiscardBody {
		return false
	}
	sc.rd.setInactivity(sc.c, sc.idleTimeout, time.Time{})
	_, rerr, _ := sc.rd.copyN(discardWriter{}, req.contentLength, nil)
	sc.bodyDone = rerr == nil
	return sc.bodyDone
}

// lingerClose half-closes the connection and reads what the client still sends, for a while,
// so that closing with unread bytes does not reset the connection before the client has read
// the answer.
func (sc *serverConn) lingerClose() {
	cw, ok := sc.c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = sc.c.SetReadDeadline(time.Now().Add(lingerTimeout))
	for total := 0; total < maxLingerBytes; {
		n, err := sc.c.Read(sc.rd.buf)
		total += n
		if err != nil {
			return
		}
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
