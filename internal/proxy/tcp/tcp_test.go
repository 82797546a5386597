package tcp

import (
	"io"
	"net"
	"testing"
	"time"
)

// connPair returns the two ends of a loopback TCP connection.
func connPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	for _, x := range []net.Conn{c, s} {
		_ = x.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { x.Close() })
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// readAll reads to EOF and fails the test on any other error.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("read: %v", err)
	}
	return string(b)
}

func TestPipeHalfClose(t *testing.T) {
	client, down := connPair(t)
	up, server := connPair(t)
	done := make(chan Result, 1)
	go func() { done <- Pipe(down, up) }()

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The server sees the request and then the end of the client's stream, while its own
	// direction is still open.
	if got := readAll(t, server); got != "request" {
		t.Fatalf("server read %q", got)
	}
	select {
	case r := <-done:
		t.Fatalf("Pipe returned after one direction ended: %+v", r)
	default:
	}
	if _, err := server.Write([]byte("response!")); err != nil {
		t.Fatal(err)
	}
	if err := server.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, client); got != "response!" {
		t.Fatalf("client read %q", got)
	}
	r := <-done
	if r.Err != nil || r.Sent != int64(len("request")) || r.Received != int64(len("response!")) {
		t.Fatalf("result %+v", r)
	}
}

func TestPipeResetClosesBoth(t *testing.T) {
	client, down := connPair(t)
	up, server := connPair(t)
	done := make(chan Result, 1)
	go func() { done <- Pipe(down, up) }()

	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	// The server aborts: an RST, not a clean end of stream.
	_ = server.SetLinger(0)
	_ = server.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe did not return after the upstream reset")
	}
	// The client's connection was closed by Pipe: its read ends.
	if _, err := client.Read(buf); err == nil {
		t.Fatal("client connection still open after the upstream failed")
	}
}
