// Package agent runs weft-proxy: it registers the workload with weftd, obtains its certificate,
// keeps the lease alive, runs the data plane with the configuration received over xDS, serves
// the admin endpoints, and drains on SIGTERM or POST /drain.
package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/proxy/admin"
	"github.com/weftmesh/weft/internal/wire"
)

// Defaults of Config.
const (
	DefaultNamespace    = "default"
	DefaultAddress      = "127.0.0.1"
	DefaultInboundPort  = 15006
	DefaultAdminAddr    = admin.DefaultAddr
	DefaultTrustDomain  = "weft.local"
	DefaultDrainTimeout = 10 * time.Second
	DefaultDrainGrace   = 2 * time.Second
)

// Config is what weft-proxy runs.
type Config struct {
	// Mode is wire.ModeSidecar or wire.ModeGateway.
	Mode string
	// ClientConfig says how to reach weftd (API URL, xDS address, token, CA).
	ClientConfig *apiclient.ClientConfig

	// ID is the workload ID and the xDS node ID.
	ID string
	// Service, Namespace, ServiceAccount and Version say who the workload is. A gateway has no
	// Service; its ServiceAccount defaults to the gateway name.
	Service        string
	Namespace      string
	ServiceAccount string
	Version        string
	// Labels are extra workload labels.
	Labels map[string]string
	// Address is the IP the inbound (or gateway) listeners bind; a sidecar registers it as the
	// address other proxies reach it at.
	Address string
	// InboundPort is the sidecar's mutual-TLS inbound listener port.
	InboundPort int32
	// Apps are the service ports served by the local application.
	Apps []wire.AppPort
	// Upstreams are the services the workload calls, each on a local outbound port.
	Upstreams []wire.Upstream
	// Gateway is, in gateway mode, the name of the Gateway resource served (in Namespace).
	Gateway string
	// TrustDomain is used to build the SPIFFE ID when weftd does not say it: always in gateway
	// mode (a gateway is not registered), and for a sidecar when weftd's registration answer
	// carries no SPIFFE ID.
	TrustDomain string

	// AdminAddr is the admin server's address; it must be on loopback.
	AdminAddr string
	// DrainTimeout bounds how long in-flight requests get once the proxy stops accepting.
	DrainTimeout time.Duration
	// DrainGrace is how long the proxy keeps serving after deregistering, so that the removal
	// reaches the callers before it stops accepting.
	DrainGrace time.Duration
	// BuildVersion is weft-proxy's build version, sent to weftd and shown by the admin server.
	BuildVersion string
}

// WithDefaults returns c with the zero fields that have a default filled in.
func (c Config) WithDefaults() Config {
	if c.Mode == "" {
		c.Mode = wire.ModeSidecar
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.ServiceAccount == "" {
		if c.Mode == wire.ModeGateway {
			c.ServiceAccount = c.Gateway
		} else {
			c.ServiceAccount = c.Service
		}
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.InboundPort == 0 {
		c.InboundPort = DefaultInboundPort
	}
	if c.TrustDomain == "" {
		c.TrustDomain = DefaultTrustDomain
	}
	if c.AdminAddr == "" {
		c.AdminAddr = DefaultAdminAddr
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DrainGrace == 0 {
		c.DrainGrace = DefaultDrainGrace
	}
	return c
}

// dnsLabel is a Kubernetes-style name: lower-case alphanumerics and '-', at most 63.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// trustDomain is a SPIFFE trust domain: lower-case letters, digits, '.', '-' and '_'.
var trustDomain = regexp.MustCompile(`^[a-z0-9._-]+$`)

func checkName(what, v string) error {
	if !dnsLabel.MatchString(v) {
		return fmt.Errorf("%s %q must be a DNS label (lower-case letters, digits and '-', at most 63)", what, v)
	}
	return nil
}

func checkPort(what string, p int32) error {
	if p <= 0 || p > 65535 {
		return fmt.Errorf("%s %d is out of range 1-65535", what, p)
	}
	return nil
}

// Validate checks c, client config included; call it on c.WithDefaults().
func (c *Config) Validate() error {
	var errs []error
	if c.ClientConfig == nil {
		errs = append(errs, errors.New("the bootstrap (--bootstrap) is required"))
	} else {
		if err := c.ClientConfig.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap: %w", err))
		}
		if _, _, err := net.SplitHostPort(c.ClientConfig.XDS); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap: xds %q must be host:port: %w", c.ClientConfig.XDS, err))
		}
	}
	return errors.Join(append(errs, c.ValidateWorkload())...)
}

// ValidateWorkload checks everything but the client config: what the flags say.
func (c *Config) ValidateWorkload() error {
	errs := c.validateCommon()
	switch c.Mode {
	case wire.ModeSidecar:
		errs = append(errs, c.validateSidecar()...)
	case wire.ModeGateway:
		errs = append(errs, c.validateGateway()...)
	default:
		errs = append(errs, fmt.Errorf("mode %q must be %s or %s", c.Mode, wire.ModeSidecar, wire.ModeGateway))
	}
	return errors.Join(errs...)
}

func (c *Config) validateCommon() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.ID == "" {
		add(errors.New("the workload ID is required"))
	} else if len(c.ID) > 253 {
		add(fmt.Errorf("the workload ID %q is longer than 253 characters", c.ID))
	}
	add(checkName("namespace", c.Namespace))
	add(checkName("service account", c.ServiceAccount))
	if !trustDomain.MatchString(c.TrustDomain) {
		add(fmt.Errorf("trust domain %q must hold only lower-case letters, digits, '.', '-' and '_'", c.TrustDomain))
	}
	if _, err := netip.ParseAddr(c.Address); err != nil {
		add(fmt.Errorf("address %q must be an IP address", c.Address))
	}
	add(checkPort("inbound port", c.InboundPort))
	add(admin.ValidateAddr(c.AdminAddr))
	if c.DrainTimeout < 0 || c.DrainGrace < 0 {
		add(errors.New("drain timeout and drain grace must not be negative"))
	}
	for k := range c.Labels {
		if k == "" {
			add(errors.New("a label has an empty key"))
		}
	}
	return errs
}

func (c *Config) validateSidecar() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Service == "" {
		add(errors.New("sidecar mode needs --service"))
	} else {
		add(checkName("service", c.Service))
	}
	if c.Gateway != "" {
		add(errors.New("--gateway is only for gateway mode"))
	}
	if ip, err := netip.ParseAddr(c.Address); err == nil && ip.IsUnspecified() {
		add(fmt.Errorf("address %s cannot be reached by other proxies: give the IP they reach this workload at", c.Address))
	}
	appPorts := make(map[int32]bool)
	for _, a := range c.Apps {
		if err := checkAppPort(a); err != nil {
			add(err)
			continue
		}
		if appPorts[a.Port] {
			add(fmt.Errorf("app port %d is given twice", a.Port))
		}
		appPorts[a.Port] = true
	}
	localPorts := make(map[int32]string)
	for _, u := range c.Upstreams {
		if err := checkUpstream(u); err != nil {
			add(err)
			continue
		}
		if prev, ok := localPorts[u.LocalPort]; ok {
			add(fmt.Errorf("upstreams %s and %s both use local port %d", prev, u.Key(), u.LocalPort))
		}
		localPorts[u.LocalPort] = u.Key()
		if u.LocalPort == c.InboundPort {
			add(fmt.Errorf("upstream %s uses local port %d, the inbound port", u.Key(), u.LocalPort))
		}
	}
	errs = append(errs, c.checkDedicatedInbound()...)
	return errs
}

func (c *Config) validateGateway() []error {
	var errs []error
	if c.Gateway == "" {
		errs = append(errs, errors.New("gateway mode needs --gateway"))
	} else if err := checkName("gateway", c.Gateway); err != nil {
		errs = append(errs, err)
	}
	if len(c.Apps) > 0 || len(c.Upstreams) > 0 {
		errs = append(errs, errors.New("--app and --upstream are for sidecar mode: a gateway's listeners come from its Gateway resource"))
	}
	return errs
}

func checkAppPort(a wire.AppPort) error {
	if err := checkPort("app port", a.Port); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(a.Target)
	if err != nil || host == "" {
		return fmt.Errorf("app port %d: target %q must be HOST:PORT", a.Port, a.Target)
	}
	if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
		return fmt.Errorf("app port %d: target %q has a bad port", a.Port, a.Target)
	}
	return nil
}

func checkUpstream(u wire.Upstream) error {
	if err := checkName("upstream service", u.Service); err != nil {
		return err
	}
	if err := checkName("upstream namespace", u.Namespace); err != nil {
		return err
	}
	if err := checkPort("upstream "+u.Service+"."+u.Namespace+" port", u.Port); err != nil {
		return err
	}
	return checkPort("upstream "+u.Key()+" local port", u.LocalPort)
}
