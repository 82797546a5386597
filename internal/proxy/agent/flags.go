package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/weftmesh/weft/internal/wire"
)

// ParseAppPort parses a --app value, PORT=HOST:PORT, optionally followed by @INBOUNDPORT: the
// service port's own inbound listener port.
func ParseAppPort(s string) (wire.AppPort, error) {
	portStr, target, ok := strings.Cut(s, "=")
	if !ok {
		return wire.AppPort{}, fmt.Errorf("--app %q: want PORT=HOST:PORT[@INBOUNDPORT], e.g. 8080=127.0.0.1:9080", s)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return wire.AppPort{}, fmt.Errorf("--app %q: service port: %w", s, err)
	}
	target, inbound, err := cutInboundPort(s, target)
	if err != nil {
		return wire.AppPort{}, err
	}
	a := wire.AppPort{Port: port, Target: target, InboundPort: inbound}
	if err := checkAppPort(a); err != nil {
		return wire.AppPort{}, fmt.Errorf("--app %q: %w", s, err)
	}
	return a, nil
}

// ParseUpstream parses an --upstream value, SVC.NS:PORT=LOCALPORT.
func ParseUpstream(s string) (wire.Upstream, error) {
	hostPort, localStr, ok := strings.Cut(s, "=")
	if !ok {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: want SVC.NS:PORT=LOCALPORT, e.g. api.default:8080=15101", s)
	}
	host, portStr, ok := strings.Cut(hostPort, ":")
	if !ok {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: %q lacks :PORT; want SVC.NS:PORT=LOCALPORT", s, hostPort)
	}
	svc, ns, ok := strings.Cut(host, ".")
	if !ok || strings.Contains(ns, ".") {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: %q must be SERVICE.NAMESPACE (one dot)", s, host)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: service port: %w", s, err)
	}
	local, err := parsePort(localStr)
	if err != nil {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: local port: %w", s, err)
	}
	u := wire.Upstream{Service: svc, Namespace: ns, Port: port, LocalPort: local}
	if err := checkUpstream(u); err != nil {
		return wire.Upstream{}, fmt.Errorf("--upstream %q: %w", s, err)
	}
	return u, nil
}

// ParseLabel parses a --label value, KEY=VALUE.
func ParseLabel(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return "", "", fmt.Errorf("--label %q: want KEY=VALUE", s)
	}
	return key, value, nil
}

func parsePort(s string) (int32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number 1-65535", s)
	}
	return int32(n), nil
}

// DefaultID returns a fresh workload ID, <name>-<6 random hex digits>.<namespace>.
func DefaultID(name, namespace string) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return name + "-" + hex.EncodeToString(b[:]) + "." + namespace
}
