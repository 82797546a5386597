// Package controlplane wires weftd: the store, the registry, the certificate authority, the
// HTTPS API and the xDS server, and the loop that turns every change into a mesh snapshot.
// It holds no logic of its own.
package controlplane

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/xds"
)

// Defaults of the Config. The lease TTL and the debounce are the registry's and the xDS
// server's own defaults.
const (
	DefaultAPIAddr  = "127.0.0.1:15080"
	DefaultXDSAddr  = "127.0.0.1:15010"
	DefaultLeaseTTL = registry.DefaultTTL
	DefaultDebounce = xds.DefaultDebounce
)

// Config configures weftd.
type Config struct {
	// DataDir holds the store, the CA and the credentials. Created with mode 0700.
	DataDir string
	// APIAddr is the host:port of the HTTPS API; port 0 picks a free port.
	APIAddr string
	// XDSAddr is the host:port of the ADS server; port 0 picks a free port.
	XDSAddr string
	// ExtraSANs are DNS names or IPs added to the serving certificate.
	ExtraSANs []string
	// LeaseTTL is how long a workload stays registered without renewing (default 20s).
	LeaseTTL time.Duration
	// Debounce is how long changes gather before a push (default 100ms).
	Debounce time.Duration
	// Version is weftd's version, served by the API.
	Version string
	// Ready, when set, is called once the listeners are bound and client.yaml and
	// proxy-bootstrap.json are written.
	Ready func(Endpoints)
}

// Endpoints are where a running weftd listens.
type Endpoints struct {
	// API and XDS are the bound host:port of the servers.
	API string
	XDS string
	// ClientConfig is the path of the client.yaml written for `weft` (it holds the admin
	// token).
	ClientConfig string
	// ProxyBootstrap is the path of the proxy-bootstrap.json written for `weft-proxy`: the same
	// without the token.
	ProxyBootstrap string
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	for _, a := range []struct{ name, addr string }{{"api addr", c.APIAddr}, {"xds addr", c.XDSAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port: %w", a.name, a.addr, err))
		}
	}
	for _, san := range c.ExtraSANs {
		if net.ParseIP(san) == nil && !validDNSName(san) {
			errs = append(errs, fmt.Errorf("san %q is neither an IP address nor a DNS name", san))
		}
	}
	if c.LeaseTTL < 0 {
		errs = append(errs, fmt.Errorf("lease ttl %v is negative", c.LeaseTTL))
	} else if c.LeaseTTL > 0 && c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease ttl %v is shorter than 1s", c.LeaseTTL))
	}
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("debounce %v is negative", c.Debounce))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid weftd config: %w", err)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
}

// validDNSName accepts names of dot-separated labels of letters, digits and '-'.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
