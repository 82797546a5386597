package listener

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type gauge struct{ n atomic.Int64 }

func (g *gauge) Inc() { g.n.Add(1) }
func (g *gauge) Dec() { g.n.Add(-1) }

// lineEcho answers each line it reads with the same line.
func lineEcho(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	got, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(got) != msg {
		t.Fatalf("echo %q: %q %v", msg, got, err)
	}
}

func TestListenerLifecycle(t *testing.T) {
	g := &gauge{}
	l, err := Bind(Config{Name: "t", Address: "127.0.0.1:0", Handler: lineEcho, Active: g})
	if err != nil {
		t.Fatal(err)
	}
	defer l.CloseConns()
	l.Start()
	addr := l.Addr().String()
	c := dial(t, addr)
	br := bufio.NewReader(c)
	echo(t, c, br, "one")
	if g.n.Load() != 1 || l.Conns() != 1 {
		t.Fatalf("active %d, conns %d, want 1", g.n.Load(), l.Conns())
	}

	l.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("dial succeeded after Stop")
	}
	echo(t, c, br, "still served after Stop")

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a live connection: %v, want deadline exceeded", err)
	}
	c.Close()
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait after the connection ended: %v", err)
	}
	if g.n.Load() != 0 {
		t.Fatalf("active %d after the connection ended", g.n.Load())
	}
}

func TestCloseConns(t *testing.T) {
	l, err := Bind(Config{Name: "t", Address: "127.0.0.1:0", Handler: lineEcho})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	c := dial(t, l.Addr().String())
	br := bufio.NewReader(c)
	echo(t, c, br, "x")
	l.Stop()
	l.CloseConns()
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection still open after CloseConns")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBindErrors(t *testing.T) {
	l, err := Bind(Config{Name: "a", Address: "127.0.0.1:0", Handler: lineEcho})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if _, err := Bind(Config{Name: "b", Address: l.Addr().String(), Handler: lineEcho}); err == nil || !strings.Contains(err.Error(), "binding "+l.Addr().String()) {
		t.Fatalf("second bind: %v", err)
	}
	if _, err := Bind(Config{Name: "c", Address: "127.0.0.1:0"}); err == nil {
		t.Fatal("Bind without a handler succeeded")
	}
	never, err := Bind(Config{Name: "d", Address: "127.0.0.1:0", Handler: lineEcho})
	if err != nil {
		t.Fatal(err)
	}
	never.Stop() // a listener never started stops at once
}
