package http1

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readRequestHead reads and parses one request head from raw, as ServeConn does.
func readRequestHead(raw []byte, maxHead int) (*request, int, error) {
	rd := &reader{}
	rd.reset(bytes.NewReader(raw))
	n, err := rd.readBlock(maxHead, true, true)
	if err != nil {
		return nil, 0, err
	}
	r := &request{}
	if err := r.parse(rd.buf[rd.r : rd.r+n]); err != nil {
		return nil, 0, err
	}
	return r, rd.r + n, nil
}

type parsedRequest struct {
	Method, Target, Path, Host string
	Minor                      byte
	ContentLength              int64
	Chunked, CloseAfter        bool
	Expect100, Upgrade         bool
	Verbatim, TETrailers       bool
}

func summarize(r *request) parsedRequest {
	return parsedRequest{
		Method: string(r.method), Target: string(r.target), Path: string(r.path),
		Host: string(r.host), Minor: r.minor, ContentLength: r.contentLength,
		Chunked: r.chunked, CloseAfter: r.closeAfter, Expect100: r.expect100,
		Upgrade: r.upgrade, Verbatim: r.verbatim, TETrailers: r.teTrailers,
	}
}

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want parsedRequest
	}{
		{
			name: "simple GET",
			raw:  "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/a/b?x=1", Path: "/a/b", Host: "example.com", Minor: 1, ContentLength: -1, Verbatim: true},
		},
		{
			name: "leading empty lines are skipped",
			raw:  "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/", Path: "/", Host: "h", Minor: 1, ContentLength: -1, Verbatim: true},
		},
		{
			name: "content-length and OWS around the value",
			raw:  "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: \t12 \r\n\r\n",
			want: parsedRequest{Method: "POST", Target: "/p", Path: "/p", Host: "h", Minor: 1, ContentLength: 12, Verbatim: true},
		},
		{
			name: "chunked",
			raw:  "POST /p HTTP/1.1\r\nHost: h\r\ntransfer-encoding: Chunked\r\n\r\n",
			want: parsedRequest{Method: "POST", Target: "/p", Path: "/p", Host: "h", Minor: 1, ContentLength: -1, Chunked: true, Verbatim: true},
		},
		{
			name: "connection close",
			raw:  "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/", Path: "/", Host: "h", Minor: 1, ContentLength: -1, CloseAfter: true},
		},
		{
			name: "HTTP/1.0 closes by default",
			raw:  "GET / HTTP/1.0\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/", Path: "/", Minor: 0, ContentLength: -1, CloseAfter: true},
		},
		{
			name: "HTTP/1.0 keep-alive",
			raw:  "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/", Path: "/", Host: "h", Minor: 0, ContentLength: -1},
		},
		{
			name: "absolute-form: the authority is the host",
			raw:  "GET http://svc.ns:8080?q HTTP/1.1\r\nHost: other\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "http://svc.ns:8080?q", Path: "/", Host: "svc.ns:8080", Minor: 1, ContentLength: -1, Verbatim: true},
		},
		{
			name: "asterisk-form",
			raw:  "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
			want: parsedRequest{Method: "OPTIONS", Target: "*", Path: "*", Host: "h", Minor: 1, ContentLength: -1, Verbatim: true},
		},
		{
			name: "expect 100-continue",
			raw:  "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
			want: parsedRequest{Method: "PUT", Target: "/x", Path: "/x", Host: "h", Minor: 1, ContentLength: 3, Expect100: true, Verbatim: true},
		},
		{
			name: "upgrade",
			raw:  "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/ws", Path: "/ws", Host: "h", Minor: 1, ContentLength: -1, Upgrade: true},
		},
		{
			name: "upgrade not listed in Connection is not an upgrade",
			raw:  "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/ws", Path: "/ws", Host: "h", Minor: 1, ContentLength: -1},
		},
		{
			name: "TE trailers",
			raw:  "GET / HTTP/1.1\r\nHost: h\r\nTE: trailers, deflate\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/", Path: "/", Host: "h", Minor: 1, ContentLength: -1, TETrailers: true},
		},
		{
			name: "obs-text and odd but valid characters",
			raw:  "GET /a|b{c}?q=%zz HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9 \"q\"\r\n\r\n",
			want: parsedRequest{Method: "GET", Target: "/a|b{c}?q=%zz", Path: "/a|b{c}", Host: "h", Minor: 1, ContentLength: -1, Verbatim: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := readRequestHead([]byte(tt.raw), defaultMaxHeaderBytes)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(r)); diff != "" {
				t.Errorf("parsed request (-want +got):\n%s", diff)
			}
		})
	}
}

// malformedRequests are requests the proxy must refuse, with the status it answers. Each is
// a complete request as a client would send it (head and body).
var malformedRequests = []struct {
	name   string
	raw    string
	status int
}{
	{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
	{"duplicate equal CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
	{"differing CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
	{"CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
	{"CL with sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", 400},
	{"CL negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
	{"CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello", 400},
	{"CL empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
	{"CL huge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
	{"TE not chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	{"TE chunked not alone", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE two fields", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
	{"TE chunked with junk", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400},
	{"TE vertical tab", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"space before colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
	{"tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400},
	{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", 400},
	{"fold of the first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
	{"bare LF in request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
	{"bare LF in field", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
	{"bare LF at the end", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
	{"bare LF everywhere", "GET / HTTP/1.1\nHost: h\n\n", 400},
	{"bare CR in field value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
	{"NUL in field value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400},
	{"control char in field value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400},
	{"DEL in field value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400},
	{"invalid char in field name", "GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n", 400},
	{"non-ASCII field name", "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: z\r\n\r\n", 400},
	{"empty field name", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", 400},
	{"field without colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
	{"invalid method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"two spaces after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"absolute-form with userinfo", "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"absolute-form other scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400},
	{"HTTP/0.9", "GET /\r\n\r\n", 400},
	{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
	{"space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
	{"missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
	{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
	{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"Connection drops Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello", 400},
	{"Connection drops Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"Connection drops Host", "GET / HTTP/1.1\r\nHost: h\r\nConnection: host\r\n\r\n", 400},
	{"too many empty lines first", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
	{"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
	{"unknown expectation", "GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417},
	{"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", defaultMaxHeaderBytes) + "\r\n\r\n", 431},
	// Chunked bodies.
	{"chunk size not hex", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n0\r\n\r\n", 400},
	{"chunk size negative", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n0\r\n\r\n", 400},
	{"chunk size 0x", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size empty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size overflow", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size with trailing space", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size with leading space", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
	{"chunk data bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400},
	{"chunk data too long", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", 400},
	{"chunk data missing CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n", 400},
	{"chunk ext without name", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk ext bad value", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk ext unterminated quote", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk ext control char", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk ext bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk line too long", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=" + strings.Repeat("b", maxChunkLine) + "\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk extension flood", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 20) + "0\r\n\r\n", 400},
	{"trailer obs-fold", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400},
	{"trailer bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n", 400},
	{"trailer invalid name", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX Y: a\r\n\r\n", 400},
}

func TestParseRequestMalformedHead(t *testing.T) {
	for _, tt := range malformedRequests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, err := readRequestHead([]byte(tt.raw), defaultMaxHeaderBytes)
			if err == nil {
				// The head is fine: the body must be the problem.
				if !r.chunked {
					t.Fatalf("parsed without error: %+v", summarize(r))
				}
				err = checkChunkedBody([]byte(tt.raw[n:]))
				if err == nil {
					t.Fatal("chunked body accepted")
				}
			}
			if got := statusOf(err); got != tt.status {
				t.Errorf("status for %v = %d, want %d", err, got, tt.status)
			}
		})
	}
}

// checkChunkedBody validates a chunked body as the proxy does when forwarding it.
func checkChunkedBody(raw []byte) error {
	rd := &reader{}
	rd.reset(bytes.NewReader(raw))
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	var scratch []byte
	rerr, werr := copyChunked(w, rd, rechunk, &scratch, defaultMaxHeaderBytes)
	return errors.Join(rerr, werr)
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		head    bool
		wantErr bool
		status  int
		kind    bodyKind
		close   bool
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, kind: bodyLength},
		{name: "no reason", raw: "HTTP/1.1 204\r\n\r\n", status: 204, kind: bodyNone},
		{name: "empty reason", raw: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", status: 200, kind: bodyNone},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, kind: bodyChunked},
		{name: "gzip then chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 200, kind: bodyChunked},
		{name: "TE without chunked is close-delimited", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", status: 200, kind: bodyClose},
		{name: "until close", raw: "HTTP/1.1 200 OK\r\n\r\n", status: 200, kind: bodyClose},
		{name: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head: true, status: 200, kind: bodyNone},
		{name: "304", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", status: 304, kind: bodyNone},
		{name: "100", raw: "HTTP/1.1 100 Continue\r\n\r\n", status: 100, kind: bodyNone},
		{name: "close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", status: 200, kind: bodyLength, close: true},
		{name: "HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", status: 200, kind: bodyLength, close: true},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", status: 200, kind: bodyLength},
		{name: "CL and TE", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "two CL", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", wantErr: true},
		{name: "chunked not last", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", wantErr: true},
		{name: "bad version", raw: "HTTP/2.0 200 OK\r\n\r\n", wantErr: true},
		{name: "bad status", raw: "HTTP/1.1 20 OK\r\n\r\n", wantErr: true},
		{name: "status out of range", raw: "HTTP/1.1 600 OK\r\n\r\n", wantErr: true},
		{name: "no space", raw: "HTTP/1.1 200OK\r\n\r\n", wantErr: true},
		{name: "obs-fold", raw: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", wantErr: true},
		{name: "control char in reason", raw: "HTTP/1.1 200 O\x01K\r\n\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p response
			err := p.parse([]byte(tt.raw))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed without error: status %d", p.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.status != tt.status || p.bodyKind(tt.head) != tt.kind || p.closeAfter != tt.close {
				t.Errorf("got status %d kind %d close %v, want %d %d %v",
					p.status, p.bodyKind(tt.head), p.closeAfter, tt.status, tt.kind, tt.close)
			}
		})
	}
}

func TestChunkedRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, rechunked, data string
	}{
		{"simple", "5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello"},
		{"upper hex and leading zeros", "00A\r\n0123456789\r\n000\r\n\r\n", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
		{"extensions dropped", "5 ; a=b;c=\"d\\\"e\" ;f\r\nhello\r\n0;x=y\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello"},
		{"trailers kept", "1\r\na\r\n2\r\nbc\r\n0\r\nX-T: 1\r\nY: two\r\n\r\n", "1\r\na\r\n2\r\nbc\r\n0\r\nX-T: 1\r\nY: two\r\n\r\n", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []chunkMode{rechunk, dechunk} {
				rd := &reader{}
				rd.reset(strings.NewReader(tt.in + "NEXT"))
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				var scratch []byte
				if rerr, werr := copyChunked(w, rd, mode, &scratch, 1024); rerr != nil || werr != nil {
					t.Fatalf("mode %d: %v %v", mode, rerr, werr)
				}
				_ = w.Flush()
				want := tt.rechunked
				if mode == dechunk {
					want = tt.data
				}
				if out.String() != want {
					t.Errorf("mode %d: wrote %q, want %q", mode, out.String(), want)
				}
				if rest := string(rd.buf[rd.r:rd.w]); rest != "NEXT" {
					t.Errorf("mode %d: left %q in the buffer, want the next message", mode, rest)
				}
			}
		})
	}
}
