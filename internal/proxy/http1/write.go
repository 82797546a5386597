package http1

import (
	"bufio"
	"net"
	"time"
)

// connOption is the Connection field the proxy adds to a response it sends downstream.
type connOption uint8

const (
	connNone      connOption = iota
	connClose                // "Connection: close": the proxy closes the connection after it
	connKeepAlive            // "Connection: keep-alive": for an HTTP/1.0 client that asked for it
)

// writeRequestHead writes the head forwarded upstream: verbatim when possible, otherwise
// rebuilt as HTTP/1.1 without the hop-by-hop fields (RFC 9110 7.6.1). For a tunnelled upgrade,
// Upgrade is kept and announced in "Connection: upgrade". "TE: trailers" is kept. An HTTP/1.0
// request loses its Expect field (which HTTP/1.0 ignores) and gains an empty Host if it had
// none.
func writeRequestHead(w *bufio.Writer, r *request) {
	if r.verbatim {
		_, _ = w.Write(r.head)
		return
	}
	_, _ = w.Write(r.method)
	_ = w.WriteByte(' ')
	_, _ = w.Write(r.target)
	_, _ = w.WriteString(" HTTP/1.1\r\n")
	for i := range r.fields {
		f := &r.fields[i]
		switch f.kind {
		case hConnection, hKeepAlive, hProxyConnection, hTE:
			continue
		case hUpgrade:
			if !r.upgrade {
				continue
			}
		case hExpect:
			if r.minor == 0 {
				continue // ignored in HTTP/1.0; it would mean something once forwarded as 1.1
			}
		default:
			if connListed(r.connVals, f.name) {
				continue
			}
		}
		writeField(w, f)
	}
	if r.teTrailers {
		_, _ = w.WriteString("TE: trailers\r\n")
	}
	if r.upgrade {
		_, _ = w.WriteString("Connection: upgrade\r\n")
	}
	if !r.hasHost {
		// An HTTP/1.1 request must have a Host field, empty when there is no authority
		// (RFC 9112 3.2); only an HTTP/1.0 request arrives without one.
		_, _ = w.WriteString("Host: \r\n")
	}
	_, _ = w.WriteString("\r\n")
}

// writeResponseHead writes a response head downstream: verbatim when possible, otherwise as
// HTTP/1.1 without hop-by-hop fields, with the Connection option conn, and without
// Transfer-Encoding when the body is de-chunked for an HTTP/1.0 client.
func writeResponseHead(w *bufio.Writer, p *response, conn connOption, dechunked bool) {
	if p.verbatim && conn == connNone && !dechunked {
		_, _ = w.Write(p.head)
		return
	}
	_, _ = w.WriteString("HTTP/1.1 ")
	writeStatusCode(w, p.status)
	_ = w.WriteByte(' ')
	_, _ = w.Write(p.reason)
	_, _ = w.WriteString("\r\n")
	for i := range p.fields {
		f := &p.fields[i]
		switch f.kind {
		case hConnection, hKeepAlive, hProxyConnection, hTE, hUpgrade:
			continue
		case hTransferEncoding:
			if dechunked {
				continue
			}
		}
		if f.kind == hOther && connListed(p.connVals, f.name) {
			continue
		}
		writeField(w, f)
	}
	writeConnOption(w, conn)
	_, _ = w.WriteString("\r\n")
}

// writeConnOption writes the Connection field conn stands for, if any.
func writeConnOption(w *bufio.Writer, conn connOption) {
	switch conn {
	case connClose:
		_, _ = w.WriteString("Connection: close\r\n")
	case connKeepAlive:
		_, _ = w.WriteString("Connection: keep-alive\r\n")
	}
}

func writeField(w *bufio.Writer, f *field) {
	_, _ = w.Write(f.name)
	_, _ = w.WriteString(": ")
	_, _ = w.Write(f.value)
	_, _ = w.WriteString("\r\n")
}

func writeStatusCode(w *bufio.Writer, code int) {
	_ = w.WriteByte(byte('0' + code/100%10))
	_ = w.WriteByte(byte('0' + code/10%10))
	_ = w.WriteByte(byte('0' + code%10))
}

func writeDecimal(w *bufio.Writer, n int) {
	if n >= 10 {
		writeDecimal(w, n/10)
	}
	_ = w.WriteByte(byte('0' + n%10))
}

// writeLocal writes a response of the proxy's own: status, a short plain-text body (announced
// but not sent in an answer to HEAD): body, or the reason phrase when body is empty.
func writeLocal(w *bufio.Writer, status int, body string, conn connOption, head bool) {
	reason := statusText(status)
	text := body
	if text == "" {
		text = reason
	}
	_, _ = w.WriteString("HTTP/1.1 ")
	writeStatusCode(w, status)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(reason)
	_, _ = w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	writeDecimal(w, len(text)+1)
	_, _ = w.WriteString("\r\n")
	writeConnOption(w, conn)
	_, _ = w.WriteString("\r\n")
	if !head {
		_, _ = w.WriteString(text)
		_ = w.WriteByte('\n')
	}
}

// statusText is the reason phrase (and body) of a local answer.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	switch code / 100 {
	case 2:
		return "OK"
	case 3:
		return "Redirection"
	case 4:
		return "Client Error"
	}
	return "Server Error"
}

// deadlineWriter writes to a connection under an inactivity deadline: before a write, the
// write deadline is pushed to now+timeout, at most every timeout/8 (so that the hot path does
// not touch the timer on every write).
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
	armedAt time.Time
	written int64 // bytes written to c
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.timeout > 0 {
		now := time.Now()
		if d.armedAt.IsZero() || now.Sub(d.armedAt) >= d.timeout/8 {
			_ = d.c.SetWriteDeadline(now.Add(d.timeout))
			d.armedAt = now
		}
	}
	n, err := d.c.Write(p)
	d.written += int64(n)
	return n, err
}
