package http1

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections of a test upstream.
type connCounter struct{ opened, closed atomic.Int32 }

func (c *connCounter) Load() int32 { return c.opened.Load() }

// newTestUpstream starts a net/http server with the behaviours the forwarding tests need.
func newTestUpstream(t *testing.T) (*httptest.Server, *connCounter) {
	t.Helper()
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1000")
			return
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/304":
			w.WriteHeader(http.StatusNotModified)
			return
		case "/trailers":
			w.Header().Set("Trailer", "X-T")
			_, _ = io.WriteString(w, "part1")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
			w.Header().Set("X-T", "t-value")
			return
		case "/reject":
			w.WriteHeader(http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-URI", r.RequestURI)
		w.Header().Set("X-Body-Len", strconv.Itoa(len(body)))
		w.Header().Set("X-Got-Trailer", r.Trailer.Get("X-Trailer"))
		_, _ = w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func upstreamAddr(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// TestMalformedRequestsRejected sends each malformed request to a proxy in front of an
// upstream that records what reaches it. A request whose head is refused must not reach the
// upstream at all. A request refused for its (streamed) body may have reached it in part, but
// never as a request the upstream could act upon: the upstream sees a truncated message and
// the connection closed.
func TestMalformedRequestsRejected(t *testing.T) {
	for _, tt := range malformedRequests {
		t.Run(tt.name, func(t *testing.T) {
			received := make(chan []byte, 4)
			up := startRawUpstream(t, func(c net.Conn) {
				b, _ := io.ReadAll(c)
				received <- b
			})
			pool := NewPool(tcpDialer(up.addr), 4)
			proxy := startProxy(t, &Server{Route: routeTo(pool)})
			cl := dialProxy(t, proxy.addr)
			cl.send(tt.raw)
			resp, body := cl.response("GET")
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if !resp.Close {
				t.Error("the answer does not close the connection")
			}
			if body != statusText(tt.status)+"\n" {
				t.Errorf("body = %q", body)
			}
			cl.expectClosed()
			pool.Close()
			waitFor(t, "upstream connections to end", func() bool { return up.finished.Load() == up.accepted.Load() })
			_, _, headErr := readRequestHead([]byte(tt.raw), defaultMaxHeaderBytes)
			if n := up.accepted.Load(); headErr != nil && n != 0 {
				t.Errorf("the upstream was connected to (%d times) for a request refused for its head", n)
			}
			for range up.accepted.Load() {
				got := <-received
				if headErr != nil && len(got) > 0 {
					t.Errorf("the upstream received %q of a request refused for its head", got)
				}
				if err := completeRequest(got); err == nil {
					t.Errorf("the upstream received a complete request: %q", got)
				}
			}
		})
	}
}

// completeRequest reports (as a nil error) whether b holds a whole request, body included.
func completeRequest(b []byte) error {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return err
	}
	_, err = io.ReadAll(req.Body)
	return err
}

func TestForwarding(t *testing.T) {
	up, upConns := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)

	tests := []struct {
		name    string
		method  string
		raw     string
		status  int
		body    string
		headers map[string]string
		trailer map[string]string
	}{
		{
			name: "GET", method: "GET",
			raw:    "GET /a?b=c HTTP/1.1\r\nHost: svc\r\n\r\n",
			status: 200, headers: map[string]string{"X-Method": "GET", "X-URI": "/a?b=c", "X-Body-Len": "0"},
		},
		{
			name: "content-length body", method: "POST",
			raw:    "POST /p HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello",
			status: 200, body: "hello", headers: map[string]string{"X-Body-Len": "5"},
		},
		{
			name: "chunked body with trailers", method: "POST",
			raw:    "POST /p HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t1\r\n\r\n",
			status: 200, body: "hello world", headers: map[string]string{"X-Body-Len": "11", "X-Got-Trailer": "t1"},
		},
		{
			name: "HEAD", method: "HEAD",
			raw:    "HEAD /head HTTP/1.1\r\nHost: svc\r\n\r\n",
			status: 200, headers: map[string]string{"Content-Length": "1000"},
		},
		{name: "204", method: "GET", raw: "GET /204 HTTP/1.1\r\nHost: svc\r\n\r\n", status: 204},
		{name: "304", method: "GET", raw: "GET /304 HTTP/1.1\r\nHost: svc\r\n\r\n", status: 304},
		{
			name: "chunked response with trailers", method: "GET",
			raw:    "GET /trailers HTTP/1.1\r\nHost: svc\r\nTE: trailers\r\n\r\n",
			status: 200, body: "part1part2", trailer: map[string]string{"X-T": "t-value"},
		},
		{
			name: "absolute-form", method: "GET",
			raw:    "GET http://svc/abs?q HTTP/1.1\r\nHost: svc\r\n\r\n",
			status: 200, headers: map[string]string{"X-URI": "http://svc/abs?q"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.send(tt.raw)
			resp, body := cl.response(tt.method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if resp.Close {
				t.Error("the proxy closes a keep-alive connection")
			}
			for k, v := range tt.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tt.trailer {
				if got := resp.Trailer.Get(k); got != v {
					t.Errorf("trailer %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	// Every request went over one client connection and one upstream connection.
	if n := upConns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections, want 1", n)
	}
	if st := pool.Stats(); st.Dials != 1 || st.Reuses != uint64(len(tests)-1) {
		t.Errorf("pool stats = %+v, want 1 dial and %d reuses", st, len(tests)-1)
	}
}

func TestRouteSeesRequest(t *testing.T) {
	type seen struct{ method, path, target, host, header string }
	got := make(chan seen, 1)
	proxy := startProxy(t, &Server{Route: func(r *Request) Decision {
		h, _ := r.Header("x-USER")
		got <- seen{string(r.Method()), string(r.Path()), string(r.RawTarget()), string(r.Host()), string(h)}
		return Decision{Status: 404}
	}})
	cl := dialProxy(t, proxy.addr)
	cl.send("DELETE /items/7?force=1 HTTP/1.1\r\nHost: api.ns:80\r\nX-User: ann\r\n\r\n")
	resp, body := cl.response("DELETE")
	if resp.StatusCode != 404 || body != "Not Found\n" {
		t.Errorf("local answer = %d %q", resp.StatusCode, body)
	}
	want := seen{"DELETE", "/items/7", "/items/7?force=1", "api.ns:80", "ann"}
	if s := <-got; s != want {
		t.Errorf("Route saw %+v, want %+v", s, want)
	}
}

func TestLocalAnswerKeepsConnection(t *testing.T) {
	proxy := startProxy(t, &Server{Route: func(r *Request) Decision {
		if string(r.Path()) == "/down" {
			return Decision{Status: 503}
		}
		return Decision{Status: 404}
	}})
	cl := dialProxy(t, proxy.addr)
	// A small body is read and dropped, so that the next request parses.
	cl.send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody")
	cl.send("GET /down HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []int{404, 503} {
		resp, body := cl.response("GET")
		if resp.StatusCode != want || resp.Close {
			t.Fatalf("status %d close %v, want %d and keep-alive", resp.StatusCode, resp.Close, want)
		}
		if body != statusText(want)+"\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("body %q, content type %q", body, resp.Header.Get("Content-Type"))
		}
	}
	// An answer to HEAD announces its body but does not send it.
	cl.send("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := cl.response("HEAD"); resp.StatusCode != 404 || body != "" || resp.ContentLength != int64(len("Not Found\n")) {
		t.Errorf("HEAD: status %d body %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if resp, body := cl.response("GET"); resp.StatusCode != 404 || body != "Not Found\n" {
		t.Errorf("GET after HEAD: status %d body %q", resp.StatusCode, body)
	}
	// A chunked body is not read: the answer closes.
	cl.send("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	resp, _ := cl.response("POST")
	if resp.StatusCode != 404 || !resp.Close {
		t.Errorf("status %d close %v, want 404 and close", resp.StatusCode, resp.Close)
	}
	cl.expectClosed()
	if got, want := proxy.statuses(), []int{404, 503, 404, 404, 404}; !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestPipelinedRequests(t *testing.T) {
	up, _ := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
		"GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	for i, want := range []string{"", "abc", "de", ""} {
		resp, body := cl.response("GET")
		if uri := resp.Header.Get("X-URI"); uri != fmt.Sprintf("/%d", i+1) || body != want {
			t.Errorf("response %d: uri %q body %q, want /%d %q", i, uri, body, i+1, want)
		}
	}
	cl.expectClosed()
}

func TestHTTP10Client(t *testing.T) {
	up, _ := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})

	t.Run("closes by default", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET /x HTTP/1.0\r\n\r\n")
		resp, _ := cl.response("GET")
		if resp.StatusCode != 200 || resp.Header.Get("X-URI") != "/x" {
			t.Errorf("status %d uri %q", resp.StatusCode, resp.Header.Get("X-URI"))
		}
		cl.expectClosed()
	})
	t.Run("keep-alive when asked", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		for range 2 {
			cl.send("POST /k HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
			resp, body := cl.response("POST")
			if body != "hi" || resp.Header.Get("Connection") != "keep-alive" {
				t.Fatalf("body %q, Connection %q", body, resp.Header.Get("Connection"))
			}
		}
	})
	t.Run("chunked response is de-chunked then closed", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET /trailers HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		head, err := readHead(cl.br)
		if err != nil {
			t.Fatalf("read head: %v", err)
		}
		if strings.Contains(strings.ToLower(head), "transfer-encoding") || !strings.Contains(head, "Connection: close\r\n") {
			t.Errorf("head for an HTTP/1.0 client:\n%s", head)
		}
		body, err := io.ReadAll(cl.br)
		if err != nil || string(body) != "part1part2" {
			t.Errorf("body %q, %v", body, err)
		}
	})
}

// headRecorder is a raw upstream that records request heads and answers each with answer.
func headRecorder(t *testing.T, answer string) (*rawUpstream, chan string) {
	heads := make(chan string, 16)
	up := startRawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			head, err := readHead(br)
			if err != nil {
				return
			}
			heads <- head
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
		}
	})
	return up, heads
}

func TestHeadsForwardedVerbatim(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nX-Odd-Case:  kept  \r\nContent-Length: 2\r\n\r\nok"
	up, heads := headRecorder(t, answer)
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	const req = "GET /v?x HTTP/1.1\r\nhOsT: h\r\nx-weird:  spaced \t\r\nAccept: */*\r\n\r\n"
	cl.send(req)
	if got := <-heads; got != req {
		t.Errorf("upstream got\n%q\nwant\n%q", got, req)
	}
	head, err := readHead(cl.br)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(answer, "ok"); head != want {
		t.Errorf("client got\n%q\nwant\n%q", head, want)
	}
}

func TestHopByHopFieldsRemoved(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nConnection: X-Bar\r\nX-Bar: 1\r\nKeep-Alive: timeout=5\r\nX-Resp: ok\r\nContent-Length: 2\r\n\r\nok"
	up, heads := headRecorder(t, answer)
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET /h HTTP/1.1\r\nHost: h\r\nConnection: X-Foo, keep-alive\r\nX-Foo: 1\r\n" +
		"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip, trailers\r\n" +
		"Upgrade: foo\r\nX-Keep: yes\r\n\r\n")
	const wantUp = "GET /h HTTP/1.1\r\nHost: h\r\nX-Keep: yes\r\nTE: trailers\r\n\r\n"
	if got := <-heads; got != wantUp {
		t.Errorf("upstream got\n%q\nwant\n%q", got, wantUp)
	}
	head, err := readHead(cl.br)
	if err != nil {
		t.Fatal(err)
	}
	const wantDown = "HTTP/1.1 200 OK\r\nX-Resp: ok\r\nContent-Length: 2\r\n\r\n"
	if head != wantDown {
		t.Errorf("client got\n%q\nwant\n%q", head, wantDown)
	}
}

func TestExpectContinue(t *testing.T) {
	up, _ := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})

	t.Run("100 Continue relayed", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("PUT /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		// The body is sent only once the 100 arrives: without it, the test times out.
		interim, _ := cl.response("PUT")
		if interim.StatusCode != 100 {
			t.Fatalf("first answer %d, want 100", interim.StatusCode)
		}
		cl.send("hello")
		resp, body := cl.response("PUT")
		if resp.StatusCode != 200 || body != "hello" || resp.Close {
			t.Errorf("final: %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
	})
	t.Run("final answer instead of 100", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("PUT /reject HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := cl.response("PUT")
		if resp.StatusCode != 403 || !resp.Close {
			t.Errorf("got %d close=%v, want 403 and close (the body was never read)", resp.StatusCode, resp.Close)
		}
		cl.expectClosed()
	})
}

func TestCloseDelimitedResponse(t *testing.T) {
	up := startRawUpstream(t, func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
	})
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := cl.response("GET")
	if resp.StatusCode != 200 || body != "until the end" || !resp.Close {
		t.Errorf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	cl.expectClosed()
	if n := pool.Idle(); n != 0 {
		t.Errorf("%d idle upstream connections, want 0", n)
	}
}

func TestUpgradeTunnel(t *testing.T) {
	heads := make(chan string, 1)
	up := startRawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		head, err := readHead(br)
		if err != nil {
			return
		}
		heads <- head
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(c, br) // echo until the client half-closes
	})
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-A: b\r\n\r\nearly")
	const wantUp = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nX-A: b\r\nConnection: upgrade\r\n\r\n"
	if got := <-heads; got != wantUp {
		t.Errorf("upstream got\n%q\nwant\n%q", got, wantUp)
	}
	head, err := readHead(cl.br)
	if err != nil || !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "Upgrade: echo\r\n") {
		t.Fatalf("head %q, %v", head, err)
	}
	cl.send("+more")
	_ = cl.c.(*net.TCPConn).CloseWrite()
	echoed, err := io.ReadAll(cl.br)
	if err != nil || string(echoed) != "early+more" {
		t.Errorf("echoed %q, %v", echoed, err)
	}
	waitFor(t, "the tunnel to be observed", func() bool { return slices.Equal(proxy.statuses(), []int{101}) })
}

// TestLargeBodiesStreamed moves 8 MiB bodies both ways. The upstream answers a POST with the
// SHA-256 of the body, a GET with the body in two halves. Between the halves, the sender waits
// for the receiver to have seen the first part: a proxy that buffered whole bodies would stall.
func TestLargeBodiesStreamed(t *testing.T) {
	const size = 8 << 20
	gotFirst := make(chan struct{})
	clientGotHalf := map[string]chan struct{}{"": make(chan struct{}), "1": make(chan struct{})}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			h := sha256.New()
			buf := make([]byte, 1)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			close(gotFirst)
			h.Write(buf)
			n, _ := io.Copy(h, r.Body)
			w.Header().Set("X-Len", strconv.FormatInt(n+1, 10))
			_, _ = io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
			return
		}
		cl := r.URL.Query().Get("cl")
		if cl == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		half := bytes.Repeat([]byte("0123456789abcdef"), size/32)
		_, _ = w.Write(half)
		w.(http.Flusher).Flush()
		select {
		case <-clientGotHalf[cl]:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(half)
	}))
	t.Cleanup(up.Close)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})

	t.Run("upload", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		data := bytes.Repeat([]byte("upload-data-0123"), size/16)
		cl.send(fmt.Sprintf("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", size))
		if _, err := cl.c.Write(data[:1<<20]); err != nil {
			t.Fatal(err)
		}
		select {
		case <-gotFirst:
		case <-time.After(testTimeout):
			t.Fatal("the upstream saw nothing of the body before the whole body was sent")
		}
		if _, err := cl.c.Write(data[1<<20:]); err != nil {
			t.Fatal(err)
		}
		resp, body := cl.response("POST")
		sum := sha256.Sum256(data)
		if resp.StatusCode != 200 || body != hex.EncodeToString(sum[:]) || resp.Header.Get("X-Len") != strconv.Itoa(size) {
			t.Errorf("status %d len %s hash %s", resp.StatusCode, resp.Header.Get("X-Len"), body)
		}
	})
	for _, tt := range []struct{ name, cl string }{{"chunked download", ""}, {"content-length download", "1"}} {
		t.Run(tt.name, func(t *testing.T) {
			cl := dialProxy(t, proxy.addr)
			cl.send("GET /big?cl=" + tt.cl + " HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, err := http.ReadResponse(cl.br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, size/2)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatalf("reading the first half: %v", err)
			}
			close(clientGotHalf[tt.cl])
			rest, err := io.ReadAll(resp.Body)
			if err != nil || len(rest) != size/2 || !bytes.Equal(first, rest) {
				t.Errorf("rest: %d bytes, %v", len(rest), err)
			}
		})
	}
}

func TestTimeoutsAndLimits(t *testing.T) {
	proxy := startProxy(t, &Server{
		Route:             func(*Request) Decision { return Decision{Status: 404} },
		ReadHeaderTimeout: 50 * time.Millisecond,
		IdleTimeout:       50 * time.Millisecond,
		MaxHeaderBytes:    512,
	})
	t.Run("head not finished in time", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n") // no end of head
		resp, _ := cl.response("GET")
		if resp.StatusCode != 408 || !resp.Close {
			t.Errorf("status %d close %v, want 408 and close", resp.StatusCode, resp.Close)
		}
		cl.expectClosed()
	})
	t.Run("idle connection", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 404 || resp.Close {
			t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
		}
		cl.expectClosed() // silently, once IdleTimeout has passed
	})
	t.Run("head larger than MaxHeaderBytes", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 512) + "\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 431 || !resp.Close {
			t.Errorf("status %d close %v, want 431 and close", resp.StatusCode, resp.Close)
		}
		cl.expectClosed()
	})
	t.Run("head within MaxHeaderBytes", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 400) + "\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 404 {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}
