package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestKeepAliveReuse(t *testing.T) {
	up, upConns := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	const clients, perClient = 3, 10
	for range clients {
		cl := dialProxy(t, proxy.addr)
		for range perClient {
			cl.send("GET /r HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := cl.response("GET"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		// The connection goes back to the pool after the response is flushed.
		waitFor(t, "the connection to be idle", func() bool { return pool.Idle() == 1 })
	}
	st := pool.Stats()
	if st.Dials != 1 || st.Reuses != clients*perClient-1 || st.Idle != 1 {
		t.Errorf("pool stats %+v, want 1 dial, %d reuses, 1 idle", st, clients*perClient-1)
	}
	if n := upConns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections, want 1", n)
	}
}

// TestStaleConnectionRetry: the upstream closes every connection after one response (without
// announcing it), as an upstream does when its keep-alive timeout ends. A request that meets
// such a closed pooled connection is sent again on a new one when its body can be replayed,
// and fails with 502 when it cannot.
func TestStaleConnectionRetry(t *testing.T) {
	up := startRawUpstream(t, func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)

	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"GET is retried", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 200},
		{"buffered POST is retried", "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody", 200},
		{"chunked POST is not", "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Prime the pool with a connection the upstream has since closed.
			cl.send("GET /prime HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("priming request: %d %q", resp.StatusCode, body)
			}
			waitFor(t, "a stale pooled connection", func() bool {
				return pool.Idle() == 1 && up.finished.Load() == up.accepted.Load()
			})
			before := pool.Stats()
			cl.send(tt.raw)
			resp, body := cl.response("POST")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			after := pool.Stats()
			if after.Reuses != before.Reuses+1 {
				t.Errorf("reuses %d, want %d: the request did not meet the stale connection", after.Reuses, before.Reuses+1)
			}
			wantDials := before.Dials
			if tt.status == 200 {
				wantDials++ // the retry
			}
			if after.Dials != wantDials {
				t.Errorf("dials %d, want %d", after.Dials, wantDials)
			}
			if resp.Close {
				cl = dialProxy(t, proxy.addr)
			}
		})
	}
}

func TestDrainLetsRequestInFlightFinish(t *testing.T) {
	got, release := make(chan struct{}), make(chan struct{})
	up := startRawUpstream(t, func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		got <- struct{}{}
		<-release
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
	})
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-got
	proxy.drain()
	close(release)
	resp, body := cl.response("GET")
	if resp.StatusCode != 200 || body != "done" {
		t.Errorf("in-flight request: %d %q", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Error("the response of a draining connection does not carry Connection: close")
	}
	cl.expectClosed()
}

func TestDrainClosesIdleConnection(t *testing.T) {
	up, _ := newTestUpstream(t)
	pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool), IdleTimeout: time.Hour})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := cl.response("GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	proxy.drain()
	cl.expectClosed()
	if d := time.Since(start); d > testTimeout/2 {
		t.Errorf("the idle connection closed %v after the drain", d)
	}
}

func TestPoolClose(t *testing.T) {
	t.Run("idle connections", func(t *testing.T) {
		up, conns := newTestUpstream(t)
		pool := NewPool(tcpDialer(upstreamAddr(up)), 4)
		proxy := startProxy(t, &Server{Route: routeTo(pool)})
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		waitFor(t, "a pooled connection", func() bool { return pool.Idle() == 1 })
		pool.Close()
		if n := pool.Idle(); n != 0 {
			t.Errorf("%d idle connections after Close", n)
		}
		waitFor(t, "the upstream to see the connection closed", func() bool { return conns.closed.Load() == 1 })
		// A closed pool hands out nothing: the request is answered 503, the client kept.
		dialsBefore := pool.Stats().Dials
		for range 2 {
			cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := cl.response("GET"); resp.StatusCode != 503 || resp.Close {
				t.Errorf("after Close: status %d close %v, want 503 keep-alive", resp.StatusCode, resp.Close)
			}
		}
		if d := pool.Stats().Dials; d != dialsBefore {
			t.Errorf("a closed pool dialed %d times", d-dialsBefore)
		}
	})
	t.Run("connection in use", func(t *testing.T) {
		got, release := make(chan struct{}), make(chan struct{})
		up := startRawUpstream(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				if _, err := readHead(br); err != nil {
					return
				}
				got <- struct{}{}
				<-release
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		pool := NewPool(tcpDialer(up.addr), 4)
		proxy := startProxy(t, &Server{Route: routeTo(pool)})
		cl := dialProxy(t, proxy.addr)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		<-got
		pool.Close()
		close(release)
		if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("request in flight during Close: %d %q", resp.StatusCode, body)
		}
		waitFor(t, "the upstream connection to be closed", func() bool { return up.finished.Load() == 1 })
		if n := pool.Idle(); n != 0 {
			t.Errorf("%d idle connections in a closed pool", n)
		}
	})
}

func TestUpstreamErrors(t *testing.T) {
	answerWith := func(answer string) func(net.Conn) {
		return func(c net.Conn) {
			if _, err := readHead(bufio.NewReader(c)); err != nil {
				return
			}
			_, _ = io.WriteString(c, answer)
		}
	}
	tests := []struct {
		name    string
		handle  func(net.Conn) // nil: connecting fails
		timeout time.Duration
		status  int
	}{
		{name: "connect failure", status: 503},
		{name: "closed without an answer", handle: answerWith(""), status: 502},
		{name: "two content-lengths", handle: answerWith("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), status: 502},
		{name: "content-length and chunked", handle: answerWith("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), status: 502},
		{name: "bad status line", handle: answerWith("HTTP/1.1 2000 OK\r\n\r\n"), status: 502},
		{name: "bare LF", handle: answerWith("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), status: 502},
		{name: "unasked 101", handle: answerWith("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), status: 502},
		{name: "partial head", handle: answerWith("HTTP/1.1 200 OK\r\nContent-"), status: 502},
		{
			name: "timeout",
			handle: func(c net.Conn) {
				_, _ = io.Copy(io.Discard, c) // never answer
			},
			timeout: 50 * time.Millisecond,
			status:  504,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dial := func(context.Context) (net.Conn, error) { return nil, errors.New("connection refused") }
			if tt.handle != nil {
				dial = tcpDialer(startRawUpstream(t, tt.handle).addr)
			}
			pool := NewPool(dial, 4)
			proxy := startProxy(t, &Server{Route: func(*Request) Decision {
				return Decision{Pool: pool, Timeout: tt.timeout}
			}})
			cl := dialProxy(t, proxy.addr)
			for range 2 { // the client connection survives
				cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
				resp, body := cl.response("GET")
				if resp.StatusCode != tt.status || resp.Close || body != statusText(tt.status)+"\n" {
					t.Errorf("got %d close=%v %q, want %d keep-alive", resp.StatusCode, resp.Close, body, tt.status)
				}
			}
		})
	}
}

func TestUpstreamFailsMidBody(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	up := startRawUpstream(t, func(c net.Conn) {
		head, err := readHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		if strings.HasPrefix(head, "GET /bad-chunks ") {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n"+big)
	})
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})

	t.Run("before anything reached the client", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET /bad-chunks HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 502 || resp.Close {
			t.Errorf("status %d close %v, want 502 keep-alive", resp.StatusCode, resp.Close)
		}
	})
	t.Run("after part of the body was sent", func(t *testing.T) {
		cl := dialProxy(t, proxy.addr)
		cl.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(cl.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Errorf("read a complete body (%d bytes) from a response the upstream cut", len(body))
		}
		if resp.StatusCode != 200 || string(body) != big {
			t.Errorf("status %d, %d bytes of body", resp.StatusCode, len(body))
		}
		cl.expectClosed()
	})
}

// TestUpstreamConnectionClose: an upstream's "Connection: close" ends that upstream connection
// only; the client connection, another hop, stays open and learns nothing of it.
func TestUpstreamConnectionClose(t *testing.T) {
	up, heads := headRecorder(t, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
	pool := NewPool(tcpDialer(up.addr), 4)
	proxy := startProxy(t, &Server{Route: routeTo(pool)})
	cl := dialProxy(t, proxy.addr)
	for range 3 {
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		<-heads
		resp, body := cl.response("GET")
		if resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("status %d body %q close %v, want 200 ok keep-alive", resp.StatusCode, body, resp.Close)
		}
	}
	if st := pool.Stats(); st.Dials != 3 || st.Reuses != 0 || st.Idle != 0 {
		t.Errorf("pool stats %+v, want 3 dials, no reuse, nothing idle", st)
	}
}
