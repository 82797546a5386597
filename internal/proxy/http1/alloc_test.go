package http1

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// forwardRig is a client, a proxy and an upstream over loopback TCP, all three of which
// allocate nothing per request, so that allocations measured around one exchange are the
// proxy's.
type forwardRig struct {
	client   net.Conn
	req      []byte
	wantResp []byte
	buf      []byte
	observed atomic.Int64
}

// newForwardRig starts the three. The upstream expects each request to arrive as upReq and
// answers it with upResp; the client sends req and expects resp.
func newForwardRig(tb testing.TB, req, upReq, upResp, resp string) *forwardRig {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				want, in, out := []byte(upReq), make([]byte, len(upReq)), []byte(upResp)
				for {
					if _, err := io.ReadFull(c, in); err != nil || !bytes.Equal(in, want) {
						return // a request not forwarded as expected fails the client's check
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	pool := NewPool(tcpDialer(ln.Addr().String()), 8)
	rig := &forwardRig{req: []byte(req), wantResp: []byte(resp), buf: make([]byte, len(resp))}
	srv := &Server{
		Route:   routeTo(pool),
		Observe: func(int) { rig.observed.Add(1) },
	}
	p := startProxy(tb, srv)
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		tb.Fatal(err)
	}
	rig.client = c
	tb.Cleanup(func() {
		_ = c.Close()
		pool.Close()
		_ = ln.Close()
		<-upDone
	})
	return rig
}

// exchange sends one request and reads its response.
func (r *forwardRig) exchange() error {
	if _, err := r.client.Write(r.req); err != nil {
		return err
	}
	_, err := io.ReadFull(r.client, r.buf)
	return err
}

const (
	rigRequest  = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: items.default.svc\r\nUser-Agent: load/1.0\r\nAccept: */*\r\n\r\n"
	rigResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n"
)

func TestForwardAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over many requests")
	}
	cases := []struct{ name, req, upReq, upResp, resp string }{
		{"GET verbatim", rigRequest, rigRequest, rigResponse, rigResponse},
		{
			name:   "POST with body",
			req:    "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
			upReq:  "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
			upResp: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
			resp:   "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
		},
		{
			name:   "rewritten heads, chunked bodies",
			req:    "POST /c HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
			upReq:  "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n",
			upResp: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			resp:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		},
		{
			name:   "HTTP/1.0 keep-alive client",
			req:    "GET /old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
			upReq:  "GET /old HTTP/1.1\r\nHost: h\r\n\r\n",
			upResp: rigResponse,
			resp:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newForwardRig(t, tc.req, tc.upReq, tc.upResp, tc.resp)
			for range 200 { // warm up: pools, buffers, the upstream connection
				if err := rig.exchange(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rig.buf, rig.wantResp) {
					t.Fatalf("response %q, want %q", rig.buf, rig.wantResp)
				}
			}
			var failed error
			allocs := testing.AllocsPerRun(2000, func() {
				if err := rig.exchange(); err != nil && failed == nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			if !bytes.Equal(rig.buf, rig.wantResp) {
				t.Fatalf("response %q, want %q", rig.buf, rig.wantResp)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per keep-alive request, want 0", allocs)
			}
		})
	}
}

func BenchmarkForward(b *testing.B) {
	for _, size := range []int{12, 16 << 10} {
		b.Run("body="+strconv.Itoa(size), func(b *testing.B) {
			resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
				strconv.Itoa(size) + "\r\n\r\n" + strings.Repeat("x", size)
			rig := newForwardRig(b, rigRequest, rigRequest, resp, resp)
			b.ReportAllocs()
			b.SetBytes(int64(len(rigRequest) + len(resp)))
			for b.Loop() {
				if err := rig.exchange(); err != nil {
					b.Fatal(err)
				}
			}
			if n := rig.observed.Load(); n < int64(b.N)-1 { // the last one may still be in flight
				b.Fatalf("observed %d requests of %d", n, b.N)
			}
		})
	}
}
