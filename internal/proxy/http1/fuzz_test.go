package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

var validRequestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://a:1/p?q HTTP/1.1\r\nHost: a:1\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nKeep-Alive: 1\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\n\r\n",
	"\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
}

// FuzzParseRequest checks that the request parser never panics, that what it accepts is
// consistent and survives the proxy's rewriting unchanged in meaning, and that where Go's
// net/http also accepts the head, both agree on how the body is delimited.
func FuzzParseRequest(f *testing.F) {
	for _, s := range validRequestSeeds {
		f.Add([]byte(s))
	}
	for _, tt := range malformedRequests {
		if len(tt.raw) < 1024 { // large inputs slow the fuzzing engine down to a crawl
			f.Add([]byte(tt.raw))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, n, err := readRequestHead(raw, 4096)
		if err != nil {
			if !isProtocolError(err) && !errors.Is(err, io.EOF) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		head := raw[:n]
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) || bytes.Count(head, []byte("\n")) != bytes.Count(head, []byte("\r\n")) {
			t.Fatalf("accepted a head with bad line ends: %q", head)
		}
		if !isToken(r.method) || !allIn(r.target, cTarget) || r.minor > 1 {
			t.Fatalf("accepted an invalid request line: %q", head)
		}
		if r.chunked && r.contentLength >= 0 {
			t.Fatalf("accepted both Content-Length and chunked: %q", head)
		}
		if r.minor == 1 && !r.hasHost {
			t.Fatalf("accepted an HTTP/1.1 request without Host: %q", head)
		}

		// What goes upstream, rewritten, parses to the same request without hop-by-hop fields.
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		r.verbatim = false
		writeRequestHead(w, r)
		_ = w.Flush()
		again, _, err := readRequestHead(out.Bytes(), 8192)
		if err != nil {
			t.Fatalf("the forwarded head does not parse: %v\n%q\nfrom %q", err, out.Bytes(), head)
		}
		if string(again.method) != string(r.method) || string(again.target) != string(r.target) ||
			again.contentLength != r.contentLength || again.chunked != r.chunked ||
			again.minor != 1 || again.expect100 != r.expect100 || again.upgrade != r.upgrade {
			t.Fatalf("the forwarded head means something else:\n%q\nfrom %q", out.Bytes(), head)
		}
		if (len(r.host) > 0 || again.hasHost) && string(again.host) != string(r.host) {
			t.Fatalf("host %q became %q", r.host, again.host)
		}
		for _, f := range again.fields {
			switch f.kind {
			case hKeepAlive, hProxyConnection:
				t.Fatalf("forwarded a hop-by-hop field %q: %q", f.name, out.Bytes())
			case hConnection:
				if !r.upgrade {
					t.Fatalf("forwarded Connection: %q", out.Bytes())
				}
			}
			if connListed(r.connVals, f.name) && !(r.upgrade && f.kind == hUpgrade) {
				t.Fatalf("forwarded %q, listed in Connection: %q", f.name, out.Bytes())
			}
		}

		// Where net/http accepts the head too, the body framing must agree.
		goReq, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			return
		}
		goChunked := len(goReq.TransferEncoding) == 1 && goReq.TransferEncoding[0] == "chunked"
		ourLen := max(r.contentLength, 0)
		if goChunked != r.chunked || (!r.chunked && goReq.ContentLength != ourLen) {
			t.Fatalf("framing differs from net/http: chunked %v/%v, length %d/%d for %q",
				r.chunked, goChunked, ourLen, goReq.ContentLength, head)
		}
	})
}

// runChunked decodes a chunked body with copyChunked in the given mode.
func runChunked(raw []byte, mode chunkMode) (out []byte, consumed int, err error) {
	rd := &reader{}
	rd.reset(bytes.NewReader(raw))
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	var scratch []byte
	rerr, werr := copyChunked(w, rd, mode, &scratch, 4096)
	_ = w.Flush()
	// Bytes read from the source but not consumed are still in rd's buffer.
	return buf.Bytes(), len(raw) - rd.buffered() - unreadOf(rd), errors.Join(rerr, werr)
}

// unreadOf returns how many bytes of the source rd has not read yet.
func unreadOf(rd *reader) int { return rd.src.(*bytes.Reader).Len() }

// FuzzChunked checks that the chunked decoder never panics, that its output re-encodes
// identically (rechunk is idempotent), that de-chunking yields the same data as rechunking,
// and that net/http's chunked reader, where it accepts the body too, reads the same data.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("5 ;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\nX: y\r\n\r\nNEXT"))
	f.Add([]byte("000A\r\n0123456789\r\n0;x\r\n\r\n"))
	for _, tt := range malformedRequests {
		if i := strings.Index(tt.raw, "chunked\r\n\r\n"); i >= 0 && len(tt.raw) < 1024 {
			f.Add([]byte(tt.raw[i+len("chunked\r\n\r\n"):]))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rechunked, used, err := runChunked(raw, rechunk)
		if err != nil {
			return
		}
		data, used2, err := runChunked(raw, dechunk)
		if err != nil || used2 != used {
			t.Fatalf("dechunk disagrees with rechunk: %v, consumed %d vs %d", err, used2, used)
		}
		again, used3, err := runChunked(rechunked, rechunk)
		if err != nil || !bytes.Equal(again, rechunked) || used3 != len(rechunked) {
			t.Fatalf("re-encoding is not stable: %v\n%q\n%q", err, rechunked, again)
		}
		data2, _, err := runChunked(rechunked, dechunk)
		if err != nil || !bytes.Equal(data, data2) {
			t.Fatalf("rechunked data differs: %v", err)
		}
		// net/http refuses some valid forms (whitespace before ";"); where it accepts, it must
		// read the same data.
		goData, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(raw[:used])))
		if err == nil && !bytes.Equal(goData, data) {
			t.Fatalf("net/http reads %q (%v), we read %q from %q", goData, err, data, raw[:used])
		}
	})
}

// FuzzParseResponse checks that the response parser never panics and that what it accepts is
// consistent.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 204\r\nConnection: keep-alive, X\r\nX: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p response
		if err := p.parse(raw); err != nil {
			return
		}
		if p.status < 100 || p.status > 599 || (p.te && p.contentLength >= 0) {
			t.Fatalf("accepted %q", raw)
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		writeResponseHead(w, &p, connClose, false)
		_ = w.Flush()
		var again response
		if err := again.parse(out.Bytes()); err != nil {
			t.Fatalf("the forwarded head does not parse: %v\n%q", err, out.Bytes())
		}
		if again.status != p.status || again.bodyKind(false) != p.bodyKind(false) || !again.closeAfter {
			t.Fatalf("the forwarded head means something else:\n%q\nfrom %q", out.Bytes(), raw)
		}
	})
}
