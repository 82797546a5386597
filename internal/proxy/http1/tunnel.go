package http1

import (
	"io"
	"net"
	"time"
)

// tunnel relays a 101 (Switching Protocols) answer to an Upgrade request, then copies bytes
// both ways between the client and the upstream until both sides are done. Once one direction
// ends, the other gets IdleTimeout to finish. A drain closes the tunnel.
func (sc *serverConn) tunnel(uc *upstreamConn) outcome {
	defer func() { _ = uc.c.Close() }()
	// The 101 head goes as the upstream sent it: Upgrade and Connection belong to it.
	if _, err := sc.w.Write(sc.resp.head); err != nil {
		return outcome{}
	}
	if err := sc.w.Flush(); err != nil {
		return outcome{}
	}
	_ = sc.c.SetDeadline(time.Time{})
	_ = uc.c.SetDeadline(time.Time{})

	sc.mu.Lock()
	if sc.isDraining() { // checked under mu: see startDrain
		sc.mu.Unlock()
		return outcome{status: 101}
	}
	sc.tunnelUp = uc.c
	sc.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(uc.c, sc.c, &sc.rd, sc.idleTimeout)
	}()
	pipe(sc.c, uc.c, &uc.rd, sc.idleTimeout)
	<-done

	sc.mu.Lock()
	sc.tunnelUp = nil
	sc.mu.Unlock()
	return outcome{status: 101}
}

// pipe copies src to dst, starting with what is left in src's read buffer, then half-closes
// dst and bounds how long src may still take.
func pipe(dst, src net.Conn, buffered *reader, timeout time.Duration) {
	var err error
	if n := buffered.buffered(); n > 0 {
		_, err = dst.Write(buffered.buf[buffered.r:buffered.w])
		buffered.consume(n)
	}
	if err == nil {
		_, _ = io.Copy(dst, src)
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	// The other direction reads from dst; give it a bound now that this one is over.
	_ = dst.SetReadDeadline(time.Now().Add(timeout))
}
