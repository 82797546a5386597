package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

// testProxy is a Server on a loopback listener.
type testProxy struct {
	addr  string
	drain context.CancelFunc

	mu       sync.Mutex
	observed []int
}

// startProxy serves srv on 127.0.0.1:0. Observe is set to record statuses; Logger, when nil,
// logs to the test.
func startProxy(t testing.TB, srv *Server) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &testProxy{addr: ln.Addr().String(), drain: cancel}
	if srv.Observe == nil {
		srv.Observe = func(status int) {
			p.mu.Lock()
			p.observed = append(p.observed, status)
			p.mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { srv.ServeConn(ctx, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("ServeConn did not return after the listener closed and ctx was cancelled")
		}
	})
	return p
}

func (p *testProxy) statuses() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.observed...)
}

// routeTo routes every request to pool.
func routeTo(pool *Pool) func(*Request) Decision {
	return func(*Request) Decision { return Decision{Pool: pool} }
}

func tcpDialer(addr string) Dialer {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// testClient is a raw client connection to the proxy.
type testClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialProxy(t *testing.T, addr string) *testClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	return &testClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (tc *testClient) send(s string) {
	tc.t.Helper()
	if _, err := io.WriteString(tc.c, s); err != nil {
		tc.t.Fatalf("write to proxy: %v", err)
	}
}

// response reads one response (to a request of the given method) and its whole body.
func (tc *testClient) response(method string) (*http.Response, string) {
	tc.t.Helper()
	resp, err := http.ReadResponse(tc.br, &http.Request{Method: method})
	if err != nil {
		tc.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tc.t.Fatalf("read response body: %v", err)
	}
	return resp, string(body)
}

// expectClosed checks that the proxy closes the connection (nothing more to read).
func (tc *testClient) expectClosed() {
	tc.t.Helper()
	b, err := tc.br.ReadByte()
	if err == nil {
		tc.t.Fatalf("read %q, want the connection closed", b)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tc.t.Fatalf("connection still open: %v", err)
	}
}

// rawUpstream is a TCP server whose connections are handled by a function of the test.
type rawUpstream struct {
	addr     string
	accepted atomic.Int32
	finished atomic.Int32
}

func startRawUpstream(t *testing.T, handle func(c net.Conn)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u := &rawUpstream{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(testTimeout))
			wg.Go(func() {
				defer u.finished.Add(1)
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return u
}

// readHead reads a message head (up to the empty line) from br.
func readHead(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		sb.WriteString(line)
		if err != nil {
			return sb.String(), err
		}
		if line == "\r\n" {
			return sb.String(), nil
		}
	}
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
