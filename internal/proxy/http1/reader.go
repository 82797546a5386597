package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"
)

// initialBufSize is the read buffer of a connection. It grows (rarely, and only up to the
// configured maximum head size) when a message head does not fit.
const initialBufSize = 8 << 10

// maxLeadingEmptyLines bounds the empty lines skipped before a request line (RFC 9112 2.2).
const maxLeadingEmptyLines = 4

var errBufferFull = errors.New("http1: read buffer full")

// reader is a read buffer over a connection, written for head parsing and body streaming:
// bytes stay in place until consumed, so a parsed head's slices remain valid until the next
// fill, and large body reads bypass the buffer.
type reader struct {
	src io.Reader
	buf []byte
	r   int // start of unread bytes
	w   int // end of unread bytes

	// Inactivity deadline for reads, used while streaming a body: when conn is set, every read
	// from src is preceded (at most every timeout/8) by a SetReadDeadline(now+timeout), capped
	// at hard when hard is set.
	conn    net.Conn
	timeout time.Duration
	hard    time.Time
	armedAt time.Time

	// flushFirst, when set, is flushed before any read from src that may block: what was
	// copied so far must not wait in a buffer while the source is silent (streaming).
	flushFirst *bufio.Writer
}

// flushError is a failure to flush reader.flushFirst: a failure of the destination, met
// while reading.
type flushError struct{ err error }

func (e *flushError) Error() string { return e.err.Error() }
func (e *flushError) Unwrap() error { return e.err }

// splitFlushError moves a flushError returned as rerr to werr. (The readers return it
// unwrapped; a type assertion keeps this free of allocations.)
func splitFlushError(rerr, werr error) (error, error) {
	if fe, ok := rerr.(*flushError); ok {
		return nil, fe.err
	}
	return rerr, werr
}

func (b *reader) reset(src io.Reader) {
	b.src = src
	b.r, b.w = 0, 0
	b.conn = nil
	b.flushFirst = nil
	b.timeout = 0
	b.hard = time.Time{}
	b.armedAt = time.Time{}
	if b.buf == nil {
		b.buf = make([]byte, initialBufSize)
	}
}

func (b *reader) buffered() int { return b.w - b.r }

func (b *reader) consume(n int) { b.r += n }

// setInactivity makes subsequent reads refresh a read deadline on c (see reader.conn); a zero
// timeout turns this off.
func (b *reader) setInactivity(c net.Conn, timeout time.Duration, hard time.Time) {
	b.conn, b.timeout, b.hard = c, timeout, hard
	b.armedAt = time.Time{}
}

func (b *reader) arm() {
	if b.conn == nil || (b.timeout <= 0 && b.hard.IsZero()) {
		return
	}
	now := time.Now()
	if !b.armedAt.IsZero() && now.Sub(b.armedAt) < b.timeout/8 {
		return
	}
	var d time.Time
	if b.timeout > 0 {
		d = now.Add(b.timeout)
	}
	if !b.hard.IsZero() && (d.IsZero() || b.hard.Before(d)) {
		d = b.hard
	}
	_ = b.conn.SetReadDeadline(d)
	b.armedAt = now
}

// read reads once from src into p, refreshing the inactivity deadline first.
func (b *reader) read(p []byte) (int, error) {
	if b.flushFirst != nil && b.flushFirst.Buffered() > 0 {
		if err := b.flushFirst.Flush(); err != nil {
			return 0, &flushError{err}
		}
	}
	b.arm()
	for range 100 {
		n, err := b.src.Read(p)
		if n > 0 {
			return n, nil // a sticky error (EOF, reset) shows again on the next read
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, io.ErrNoProgress
}

// fill reads once into the free space at the end of the buffer, moving unread bytes to the
// front when needed. It fails with errBufferFull when the buffer holds nothing but unread bytes.
func (b *reader) fill() error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	if b.w == len(b.buf) {
		if b.r == 0 {
			return errBufferFull
		}
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
	n, err := b.read(b.buf[b.w:])
	b.w += n
	return err
}

// grow enlarges the buffer to at least size, keeping unread bytes.
func (b *reader) grow(size int) {
	nb := make([]byte, size)
	b.w = copy(nb, b.buf[b.r:b.w])
	b.r = 0
	b.buf = nb
}

// readBlock reads until the buffer holds a block of CRLF-terminated lines ending with an empty
// line, and returns the block's length from b.r (nothing is consumed). With head set, the block
// is a message head: its first line must not be empty (empty lines before it are skipped when
// skipEmpty is set); otherwise it is a trailer section, which may be just the empty line. A
// block longer than max fails with errHeadTooLarge; a bare LF with errBareLF.
func (b *reader) readBlock(max int, head, skipEmpty bool) (int, error) {
	scan, lineStart := b.r, b.r // absolute offsets, rebased after fills
	skipped := 0
	for {
		for {
			i := bytes.IndexByte(b.buf[scan:b.w], '\n')
			if i < 0 {
				scan = b.w
				break
			}
			nl := scan + i
			if nl == lineStart || b.buf[nl-1] != '\r' {
				return 0, errBareLF
			}
			scan = nl + 1
			if nl-1 != lineStart {
				lineStart = scan
				continue
			}
			// An empty line.
			if lineStart == b.r && head {
				if !skipEmpty || skipped == maxLeadingEmptyLines {
					return 0, errMalformed
				}
				skipped++
				b.r = scan
				lineStart = scan
				continue
			}
			if scan-b.r > max {
				return 0, errHeadTooLarge
			}
			return scan - b.r, nil
		}
		if b.w-b.r >= max {
			return 0, errHeadTooLarge
		}
		relScan, relLine := scan-b.r, lineStart-b.r
		if b.w == len(b.buf) && b.r == 0 {
			b.grow(min(2*len(b.buf), max+2))
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
		scan, lineStart = b.r+relScan, b.r+relLine
	}
}

// readLine reads one CRLF-terminated line of at most max bytes and consumes it. The returned
// line (without CRLF) is valid until the next read.
func (b *reader) readLine(max int, tooLong error) ([]byte, error) {
	scan := b.r
	for {
		if i := bytes.IndexByte(b.buf[scan:b.w], '\n'); i >= 0 {
			nl := scan + i
			if nl == b.r || b.buf[nl-1] != '\r' {
				return nil, errBareLF
			}
			if nl-1-b.r > max {
				return nil, tooLong
			}
			line := b.buf[b.r : nl-1]
			b.r = nl + 1
			return line, nil
		}
		if b.w-b.r > max+1 {
			return nil, tooLong
		}
		rel := b.w - b.r
		if err := b.fill(); err != nil {
			if errors.Is(err, errBufferFull) {
				return nil, tooLong
			}
			return nil, err
		}
		scan = b.r + rel
	}
}

// copyN copies n bytes (n < 0: until EOF) from b to dst. Buffered bytes are written from the
// buffer; when it is empty and much is left, reads go straight into *scratch (allocated on
// first use; nil scratch: always read through the buffer). It reports a
// failure of the source (rerr) apart from a failure of the destination (werr).
func (b *reader) copyN(dst io.Writer, n int64, scratch *[]byte) (done int64, rerr, werr error) {
	for n < 0 || done < n {
		if b.r == b.w {
			left := n - done
			if scratch != nil && (n < 0 || left >= int64(len(b.buf))) {
				if *scratch == nil {
					*scratch = make([]byte, scratchSize)
				}
				p := *scratch
				if n >= 0 && left < int64(len(p)) {
					p = p[:left]
				}
				k, err := b.read(p)
				if err != nil {
					if n < 0 && errors.Is(err, io.EOF) {
						return done, nil, nil
					}
					rerr, werr = splitFlushError(err, nil)
					return done, rerr, werr
				}
				if _, err := dst.Write(p[:k]); err != nil {
					return done, nil, err
				}
				done += int64(k)
				continue
			}
			if err := b.fill(); err != nil {
				if n < 0 && errors.Is(err, io.EOF) {
					return done, nil, nil
				}
				rerr, werr = splitFlushError(err, nil)
				return done, rerr, werr
			}
		}
		k := b.w - b.r
		if n >= 0 && int64(k) > n-done {
			k = int(n - done)
		}
		if _, err := dst.Write(b.buf[b.r : b.r+k]); err != nil {
			return done, nil, err
		}
		b.r += k
		done += int64(k)
	}
	return done, nil, nil
}
