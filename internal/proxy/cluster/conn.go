package cluster

import (
	"io"
	"net"
	"sync"
)

// Gauge is the part of a metric gauge the cluster code uses (prometheus.Gauge fits).
type Gauge interface {
	Inc()
	Dec()
}

// countedConn decrements a gauge once when closed. It wraps the raw TCP connection, under any
// TLS layer, so the *tls.Conn handed to net/http stays a *tls.Conn.
type countedConn struct {
	net.Conn
	once  sync.Once
	gauge Gauge
}

func newCountedConn(c net.Conn, g Gauge) net.Conn {
	if g == nil {
		return c
	}
	g.Inc()
	return &countedConn{Conn: c, gauge: g}
}

func (c *countedConn) Close() error {
	c.once.Do(c.gauge.Dec)
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the underlying one supports it.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// ReadFrom keeps the kernel fast paths (splice) of the underlying *net.TCPConn for plain
// TCP proxying.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// WriteTo mirrors ReadFrom for the other direction.
func (c *countedConn) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{c.Conn})
}
