package wire

import (
	"fmt"
	"time"
)

// Workload is one running instance of a service, registered by its proxy (or, for proxyless
// workloads, by the workload itself). It lives in the registry under a lease.
type Workload struct {
	// ID is unique in the mesh; the proxy's xDS node ID is the same string.
	ID             string            `json:"id"`
	Service        string            `json:"service"`
	Namespace      string            `json:"namespace"`
	ServiceAccount string            `json:"serviceAccount"`
	Version        string            `json:"version,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	// Address is the IP other proxies reach this workload's proxy at.
	Address string `json:"address"`
	// InboundPort is the port of the proxy's mutual-TLS inbound listener (or, for a proxyless
	// workload, the plaintext port of the workload itself).
	InboundPort int32 `json:"inboundPort"`
	// Ports are the service ports this workload serves.
	Ports []int32 `json:"ports,omitempty"`
	// DedicatedInbound lists the service ports that have their own inbound listener port.
	DedicatedInbound []DedicatedInbound `json:"dedicatedInbound,omitempty"`
	// AdminAddress is the proxy's admin server (host:port), empty for proxyless workloads.
	AdminAddress string `json:"adminAddress,omitempty"`
	// Proxyless marks a workload without a Weft proxy: callers reach InboundPort in plaintext.
	Proxyless bool `json:"proxyless,omitempty"`
	// Gateway marks a gateway proxy, registered so that weftd tracks its certificate (a CA
	// rotation tells it to renew through its lease). Service is the name of the Gateway
	// resource it serves; it has no inbound port and is never an endpoint of a Service.
	Gateway bool `json:"gateway,omitempty"`
	// SPIFFEID is the workload identity (set by weftd).
	SPIFFEID string `json:"spiffeID,omitempty"`
	// CertExpiry is the expiry of the last certificate issued to this workload, if any.
	CertExpiry *time.Time `json:"certExpiry,omitempty"`
	// LeaseExpiry is when the registration ends unless renewed (set by weftd).
	LeaseExpiry time.Time `json:"leaseExpiry,omitempty"`
}

// EffectiveLabels are the workload's labels plus the implicit "app" (service name) and
// "version" labels that selectors may use.
func (w *Workload) EffectiveLabels() map[string]string {
	out := make(map[string]string, len(w.Labels)+2)
	for k, v := range w.Labels {
		out[k] = v
	}
	if _, ok := out["app"]; !ok && w.Service != "" {
		out["app"] = w.Service
	}
	if _, ok := out["version"]; !ok && w.Version != "" {
		out["version"] = w.Version
	}
	return out
}

// Validate checks a registration as received from a proxy.
func (w *Workload) Validate() error {
	switch {
	case w.ID == "":
		return fmt.Errorf("workload: id is required")
	case w.Service == "":
		return fmt.Errorf("workload %s: service is required", w.ID)
	case w.Namespace == "":
		return fmt.Errorf("workload %s: namespace is required", w.ID)
	case w.ServiceAccount == "":
		return fmt.Errorf("workload %s: serviceAccount is required", w.ID)
	case w.Address == "":
		return fmt.Errorf("workload %s: address is required", w.ID)
	case w.Gateway && w.Proxyless:
		return fmt.Errorf("workload %s: a gateway is a proxy; it cannot be proxyless", w.ID)
	case w.Gateway && (w.InboundPort != 0 || len(w.Ports) > 0):
		return fmt.Errorf("workload %s: a gateway serves no service port: inboundPort and ports must be empty", w.ID)
	case !w.Gateway && (w.InboundPort <= 0 || w.InboundPort > 65535):
		return fmt.Errorf("workload %s: inboundPort %d is out of range 1-65535", w.ID, w.InboundPort)
	}
	for _, p := range w.Ports {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("workload %s: port %d is out of range 1-65535", w.ID, p)
		}
	}
	return w.validateDedicatedInbound()
}

// SPIFFEID returns the identity of a service account in a trust domain.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, namespace, serviceAccount)
}
