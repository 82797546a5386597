package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weftmesh/weft/internal/proxy/agent"
	"github.com/weftmesh/weft/internal/wire"
)

// bootstrapEnv names the proxy bootstrap when --bootstrap does not.
const bootstrapEnv = "WEFT_PROXY_BOOTSTRAP"

// defaultBootstrapPath is the proxy bootstrap of a weftd run with its default data directory:
// ~/.weft/weftd/proxy-bootstrap.json.
func defaultBootstrapPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".weft", "weftd", "proxy-bootstrap.json")
}

// options are the parsed command line.
type options struct {
	agent        agent.Config // without ClientConfig and BuildVersion
	bootstrap    string
	logLevel     slog.Level
	printVersion bool

	// joinTokenFile (--join-token-file) or joinToken ($WEFT_JOIN_TOKEN) give a join token.
	joinTokenFile string
	joinToken     string
}

// parseFlags parses the command line (documented in docs/proxy.md). getenv reads
// $WEFT_PROXY_BOOTSTRAP and $WEFT_JOIN_TOKEN.
func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (*options, error) {
	fs := flag.NewFlagSet("weft-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: weft-proxy [flags]       run the proxy
       weft-proxy version       print the build version

Sidecar:  weft-proxy --service web --app 8080=127.0.0.1:9080 --upstream api.default:8080=15101
Gateway:  weft-proxy --mode gateway --gateway ingress --namespace default

Flags:
`)
		fs.PrintDefaults()
	}

	o := &options{}
	c := &o.agent
	bootstrapDefault := getenv(bootstrapEnv)
	if bootstrapDefault == "" {
		bootstrapDefault = defaultBootstrapPath()
	}
	var inboundPort int
	var logLevel string
	fs.StringVar(&c.Mode, "mode", wire.ModeSidecar, "sidecar or gateway")
	fs.StringVar(&o.bootstrap, "bootstrap", bootstrapDefault, "how to reach weftd: the proxy-bootstrap.json weftd writes in its data directory (API URL, xDS address, CA); default $"+bootstrapEnv+", else ~/.weft/weftd/proxy-bootstrap.json")
	fs.StringVar(&o.joinTokenFile, "join-token-file", "", "file holding a join token ('weft token create'), the proxy's credential for weftd ($WEFT_JOIN_TOKEN may hold the token instead)")
	fs.StringVar(&c.ID, "id", "", "workload ID, also the xDS node ID (default <service>-<random>.<namespace>)")
	fs.StringVar(&c.Service, "service", "", "the service this workload serves (sidecar mode)")
	fs.StringVar(&c.Namespace, "namespace", agent.DefaultNamespace, "the workload's (or gateway's) namespace")
	fs.StringVar(&c.ServiceAccount, "service-account", "", "the workload's service account, its identity (default the service name, or the gateway name)")
	fs.StringVar(&c.Version, "version", "", "the workload's version label (to print weft-proxy's own version: weft-proxy version)")
	fs.Func("label", "extra workload label `k=v` (repeatable)", func(s string) error {
		k, v, err := agent.ParseLabel(s)
		if err != nil {
			return err
		}
		if c.Labels == nil {
			c.Labels = make(map[string]string)
		}
		if _, dup := c.Labels[k]; dup {
			return fmt.Errorf("--label %q: label %s is given twice", s, k)
		}
		c.Labels[k] = v
		return nil
	})
	fs.StringVar(&c.Address, "address", agent.DefaultAddress, "IP to bind the inbound (or gateway) listeners and to register")
	fs.IntVar(&inboundPort, "inbound-port", agent.DefaultInboundPort, "port of the mutual-TLS inbound listener")
	fs.Func("app", "service port served by the local application, `PORT=HOST:PORT[@INBOUNDPORT]` (repeatable); @INBOUNDPORT gives the port its own inbound listener, for plaintext clients (see docs/security-mtls.md)", func(s string) error {
		a, err := agent.ParseAppPort(s)
		if err != nil {
			return err
		}
		c.Apps = append(c.Apps, a)
		return nil
	})
	fs.Func("upstream", "open an outbound listener on 127.0.0.1:LOCALPORT for a service port, `SVC.NS:PORT=LOCALPORT` (repeatable)", func(s string) error {
		u, err := agent.ParseUpstream(s)
		if err != nil {
			return err
		}
		c.Upstreams = append(c.Upstreams, u)
		return nil
	})
	fs.StringVar(&c.Gateway, "gateway", "", "gateway mode: the Gateway resource to serve (in --namespace)")
	fs.StringVar(&c.TrustDomain, "trust-domain", agent.DefaultTrustDomain, "the mesh's trust domain, used only if weftd's registration answer does not give the SPIFFE ID")
	fs.StringVar(&c.AdminAddr, "admin-addr", agent.DefaultAdminAddr, "admin server address (loopback only): /ready, /stats/prometheus, /config_dump, /drain")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", agent.DefaultDrainTimeout, "on SIGTERM: how long in-flight requests get")
	fs.DurationVar(&c.DrainGrace, "drain-grace", agent.DefaultDrainGrace, "on SIGTERM: how long to keep serving after deregistering, before draining (0 means the default)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch rest := fs.Args(); {
	case len(rest) == 1 && rest[0] == "version":
		return &options{printVersion: true}, nil
	case len(rest) > 0:
		return nil, fmt.Errorf("unexpected argument %q (flags start with --; the only command is \"version\")", rest[0])
	}
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	if inboundPort <= 0 || inboundPort > 65535 {
		return nil, fmt.Errorf("--inbound-port %s is out of range 1-65535", strconv.Itoa(inboundPort))
	}
	c.InboundPort = int32(inboundPort)
	if strings.TrimSpace(o.bootstrap) == "" {
		return nil, fmt.Errorf("--bootstrap is empty")
	}
	o.joinToken = getenv(joinTokenEnv)
	if o.joinTokenFile != "" && o.joinToken != "" {
		return nil, fmt.Errorf("--join-token-file and $%s are both set: give the join token one way", joinTokenEnv)
	}
	if c.ID == "" {
		name := c.Service
		if c.Mode == wire.ModeGateway {
			name = c.Gateway
		}
		if name == "" {
			return nil, fmt.Errorf("--service is required in sidecar mode, --gateway in gateway mode")
		}
		c.ID = agent.DefaultID(name, c.Namespace)
	}
	// Report flag mistakes as such, before the bootstrap is read.
	cfg := c.WithDefaults()
	if err := cfg.ValidateWorkload(); err != nil {
		return nil, err
	}
	return o, nil
}
