package wire

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DedicatedInbound gives one service port of a workload its own inbound listener port, next to
// the shared inbound port. Callers reach that service port at Address:InboundPort. It exists
// for plaintext clients (PERMISSIVE or DISABLE mTLS): they send no TLS server name, so the
// shared port cannot tell which service port they want.
type DedicatedInbound struct {
	// Port is the service port.
	Port int32 `json:"port"`
	// InboundPort is the proxy's listener port for that service port.
	InboundPort int32 `json:"inboundPort"`
}

// InboundPortFor returns the port callers reach service port port of w at: its dedicated
// inbound port if it has one, else the shared InboundPort.
func (w *Workload) InboundPortFor(port int32) int32 {
	for _, d := range w.DedicatedInbound {
		if d.Port == port {
			return d.InboundPort
		}
	}
	return w.InboundPort
}

// validateDedicatedInbound checks the dedicated inbound ports of a registration.
func (w *Workload) validateDedicatedInbound() error {
	seen := map[int32]int32{}
	for _, d := range w.DedicatedInbound {
		switch {
		case d.Port <= 0 || d.Port > 65535:
			return fmt.Errorf("workload %s: dedicated inbound: service port %d is out of range 1-65535", w.ID, d.Port)
		case d.InboundPort <= 0 || d.InboundPort > 65535:
			return fmt.Errorf("workload %s: dedicated inbound port %d of service port %d is out of range 1-65535", w.ID, d.InboundPort, d.Port)
		case d.InboundPort == w.InboundPort:
			return fmt.Errorf("workload %s: dedicated inbound port %d of service port %d is the shared inbound port", w.ID, d.InboundPort, d.Port)
		}
		if other, dup := seen[d.InboundPort]; dup {
			return fmt.Errorf("workload %s: dedicated inbound port %d is used by service ports %d and %d", w.ID, d.InboundPort, other, d.Port)
		}
		seen[d.InboundPort] = d.Port
	}
	return nil
}

// DedicatedInboundListenerName names the listener of a service port's dedicated inbound port.
func DedicatedInboundListenerName(port int32) string { return fmt.Sprintf("inbound|%d", port) }

// InboundPlaintextChainName names the filter chain that serves plaintext for a service port on
// an inbound listener; the mutual-TLS chain of the port is named InboundClusterName(port).
func InboundPlaintextChainName(port int32) string { return fmt.Sprintf("inbound|%d|plaintext", port) }

// InboundChainPort returns the service port of an inbound filter chain named by
// InboundClusterName or InboundPlaintextChainName.
func InboundChainPort(name string) (int32, bool) {
	rest, ok := strings.CutPrefix(name, "inbound|")
	if !ok {
		return 0, false
	}
	rest = strings.TrimSuffix(rest, "|plaintext")
	n, err := strconv.ParseUint(rest, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return int32(n), true
}

// Transport protocols a filter chain matches (filter_chain_match.transport_protocol), as the
// tls_inspector listener filter sets them.
const (
	TransportProtocolTLS = "tls"
	TransportProtocolRaw = "raw_buffer"
)

// PlaintextReport is the body of a proxy's GET /mtls/plaintext: the peers that recently sent
// plaintext to its inbound listeners (PERMISSIVE or DISABLE ports).
type PlaintextReport struct {
	// Now is the proxy's clock when it answered, so that readers can compute ages without
	// trusting their own clock.
	Now time.Time `json:"now"`
	// Sources, most recently seen first.
	Sources []PlaintextSource `json:"sources"`
}

// PlaintextSource is one peer address that sent plaintext to one service port.
type PlaintextSource struct {
	// Address is the peer's IP.
	Address string `json:"address"`
	// Listener is the inbound listener the connections arrived on.
	Listener string `json:"listener"`
	// Port is the service port they were served by.
	Port int32 `json:"port"`
	// Count is the number of plaintext connections.
	Count uint64 `json:"count"`
	// FirstSeen and LastSeen are the times of the first and the last of them.
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}
