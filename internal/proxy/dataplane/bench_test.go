package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// rawApp is a minimal HTTP/1.1 backend that allocates nothing per request, so that a
// benchmark's allocations are the proxies'.
type rawApp struct{ ln net.Listener }

const rawAppBody = "hello world\n"

func startRawApp(t testing.TB) *rawApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(rawAppBody)) + "\r\n\r\n" + rawAppBody)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &rawApp{ln: ln}
}

func (a *rawApp) addr() string { return a.ln.Addr().String() }

// skipHead reads a message head up to its empty line and returns its Content-Length.
func skipHead(br *bufio.Reader) error {
	_, err := readHead(br)
	return err
}

func readHead(br *bufio.Reader) (int, error) {
	n := 0
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 && !first {
			return n, nil
		}
		const cl = "content-length:"
		if len(line) > len(cl) && bytes.EqualFold(line[:len(cl)], []byte(cl)) {
			v := bytes.TrimSpace(line[len(cl):])
			n = 0
			for _, c := range v {
				n = n*10 + int(c-'0')
			}
		}
	}
}

// rawClient sends GET requests on one kept-alive connection without allocating.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
	buf []byte
}

func newRawClient(t testing.TB, addr string) *rawClient {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{c: c, br: bufio.NewReader(c), buf: make([]byte, 4096),
		req: []byte("GET /bench HTTP/1.1\r\nHost: svc.default:80\r\nUser-Agent: bench\r\n\r\n")}
}

func (rc *rawClient) do() error {
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	line, err := rc.br.Peek(12)
	if err != nil {
		return err
	}
	if string(line[9:12]) != "200" {
		return fmt.Errorf("status line %q", line)
	}
	n, err := readHead(rc.br)
	if err != nil {
		return err
	}
	if n > len(rc.buf) {
		return fmt.Errorf("body of %d bytes", n)
	}
	_, err = io.ReadFull(rc.br, rc.buf[:n])
	return err
}

// BenchmarkProxyH1 measures HTTP/1.1 requests through caller -> mutual TLS -> callee -> app,
// with concurrent kept-alive clients. Run with -benchmem: allocations are per request, for
// both proxies together (client and app allocate nothing).
func BenchmarkProxyH1(b *testing.B) {
	p := newPair(b)
	app := startRawApp(b)
	addr := strings.TrimPrefix(meshHTTP(b, p, app), "http://")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rc := newRawClient(b, addr)
		defer rc.c.Close()
		for pb.Next() {
			if err := rc.do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestFastPathAllocations: once warm, a request on the fast path allocates nothing in the
// proxies. Over mutual TLS, crypto/tls itself allocates one small object per record read
// (its atLeastReader escapes into bytes.Buffer.ReadFrom): one on each TLS hop's receiving side,
// so two for caller -> mTLS -> callee. The bounds leave no room for an allocation of ours.
func TestFastPathAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation measurement skipped in -short mode and under the race detector")
	}
	tests := []struct {
		name string
		addr func(t *testing.T, p *pair, app *rawApp) string
		max  float64
	}{
		{"one plaintext proxy", func(t *testing.T, p *pair, app *rawApp) string {
			cl := &config.Cluster{Name: "app", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: app.addr()}}}
			mustApply(t, p.caller, outboundConfig("plain", p.ca.PEM, routeTo("svc", "app"), cl))
			return listenerAddr(t, p.caller, "outbound")
		}, 0},
		{"caller to callee over mutual TLS", func(t *testing.T, p *pair, app *rawApp) string {
			return strings.TrimPrefix(meshHTTP(t, p, app), "http://")
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			app := startRawApp(t)
			rc := newRawClient(t, tc.addr(t, p, app))
			defer rc.c.Close()
			for range 100 {
				if err := rc.do(); err != nil {
					t.Fatal(err)
				}
			}
			var failed error
			allocs := testing.AllocsPerRun(500, func() {
				if err := rc.do(); err != nil && failed == nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			t.Logf("%.2f allocations per proxied request", allocs)
			if allocs > tc.max {
				t.Fatalf("%.2f allocations per request, want at most %v", allocs, tc.max)
			}
		})
	}
}
