package demo

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 20 {
		t.Fatalf("got %d ports, want 20", len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 {
			t.Errorf("port %d out of range", p)
		}
		if seen[p] {
			t.Errorf("port %d chosen twice", p)
		}
		seen[p] = true
		// Every port is free again once chosen.
		if err := checkFree(loopback(p)); err != nil {
			t.Errorf("port %d: %v", p, err)
		}
	}
}

func TestCheckFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := l.Addr().String()
	if err := checkFree(taken); !errors.Is(err, errPortTaken) {
		t.Errorf("checkFree(%s) while listening = %v, want errPortTaken", taken, err)
	}
	_ = l.Close()
	if err := checkFree(taken); err != nil {
		t.Errorf("checkFree(%s) after close = %v, want nil", taken, err)
	}
	if err := checkFree("127.0.0.1:0"); err != nil {
		t.Errorf("checkFree(port 0) = %v, want nil", err)
	}
	if err := checkFree("127.0.0.1:" + strconv.Itoa(70000)); err == nil || errors.Is(err, errPortTaken) {
		t.Errorf("checkFree(bad port) = %v, want an error that is not errPortTaken", err)
	}
}
