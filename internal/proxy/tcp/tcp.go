// Package tcp forwards a connection's bytes to an upstream connection in both directions,
// passing half-closes through, and closes both once both directions are done or either fails.
package tcp

import (
	"errors"
	"io"
	"net"
	"sync"
)

const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Result is what Pipe moved.
type Result struct {
	// Sent is the bytes copied from the downstream to the upstream; Received the other way.
	Sent, Received int64
	// Err is the first error of either direction other than a clean end of stream.
	Err error
}

// Pipe copies down -> up and up -> down until both directions have ended. When one side ends
// its stream (EOF), the other side's write half is closed (TCP FIN or TLS close_notify) and the
// other direction goes on. An error in either direction closes both connections at once.
// Pipe closes both connections before returning.
func Pipe(down, up net.Conn) Result {
	var (
		res      Result
		wg       sync.WaitGroup
		errOnce  sync.Once
		closeAll = func() { _ = down.Close(); _ = up.Close() }
	)
	fail := func(err error) {
		errOnce.Do(func() { res.Err = err })
		closeAll()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := copyHalf(up, down, closeAll)
		res.Sent = n
		if err != nil {
			fail(err)
		}
	}()
	n, err := copyHalf(down, up, closeAll)
	res.Received = n
	if err != nil {
		fail(err)
	}
	wg.Wait()
	closeAll()
	return res
}

// copyHalf copies src to dst and, on a clean end of src, half-closes dst (or, when dst cannot
// half-close, closes everything).
func copyHalf(dst, src net.Conn, closeAll func()) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(dst, src, *bp)
	bufPool.Put(bp)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The other direction failed and closed both: not this direction's error.
			return n, nil
		}
		return n, err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
			return n, err
		}
		return n, nil
	}
	closeAll()
	return n, nil
}
