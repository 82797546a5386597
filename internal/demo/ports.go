package demo

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago, chosen by the
// OS. Every listener stays open until all n are chosen, so the ports differ from each other.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choosing a free port on 127.0.0.1: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// errPortTaken is returned by checkFree when something already listens on the address.
var errPortTaken = errors.New("address already in use")

// checkFree reports whether addr (host:port) can be bound now. An address with port 0 is
// always free.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s: %w", addr, errPortTaken)
		}
		return fmt.Errorf("checking %s: %w", addr, err)
	}
	return l.Close()
}
