// Package demo implements `weft demo`: weftd, an ingress gateway and a three-service demo chain
// (web-api -> recommendation v1/v2 -> purchase-history, each with its weft-proxy sidecar),
// started on this machine with one command and stopped with Ctrl-C.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/clientconfig"
)

// Default addresses of weftd (docs/architecture.md).
const (
	DefaultAPIAddr = "127.0.0.1:15080"
	DefaultXDSAddr = "127.0.0.1:15010"
)

// Options configure a demo run. The zero value runs the demo as `weft demo` does, except that
// Port 0 picks a free port for the gateway.
type Options struct {
	// Port is the gateway's HTTP listener on 127.0.0.1; 0 picks a free port.
	Port int
	// DataDir is weftd's data directory. Empty: a fresh directory in WorkDir, removed at exit.
	// A directory given here is kept.
	DataDir string
	// WorkDir holds the logs (and, unless BinDir is set, binaries the demo builds). Empty: a new
	// temporary directory, removed at exit unless the demo failed (its logs are then kept).
	WorkDir string
	// BinDir is where weftd, weft-proxy and demo-app are. Empty: next to the running
	// executable, else on PATH, else built from the source tree the current directory is in.
	BinDir string
	// ClientConfigPath is where the demo installs weftd's client config for `weft`, if no other
	// config is there. Empty: clientconfig.DefaultPath() (~/.weft/config.yaml).
	ClientConfigPath string
	// APIAddr and XDSAddr are weftd's listen addresses. Empty: DefaultAPIAddr, DefaultXDSAddr.
	APIAddr string
	XDSAddr string
	// ReadyTimeout bounds each wait for readiness: weftd, then the proxies and the chain.
	// Default 60s.
	ReadyTimeout time.Duration
	// StopTimeout is how long a process gets after SIGTERM before SIGKILL. Default 10s.
	StopTimeout time.Duration
	// Out receives what the demo tells the user. Nil: os.Stdout.
	Out io.Writer
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.APIAddr == "" {
		o.APIAddr = DefaultAPIAddr
	}
	if o.XDSAddr == "" {
		o.XDSAddr = DefaultXDSAddr
	}
	if o.ClientConfigPath == "" {
		o.ClientConfigPath = clientconfig.DefaultPath()
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	return o
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("port %d is out of range 1-65535", o.Port)
	}
	return nil
}

// Run starts the demo, waits until it answers, then keeps it running until ctx is done, and
// stops everything it started. It returns nil when the demo ran until ctx was canceled.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	r := newRunner(opts)
	err := r.run(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // Ctrl-C while starting is a normal stop
	}
	r.cleanup(err != nil)
	return err
}

// NewCommand returns the `weft demo` command.
func NewCommand() *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run weftd, an ingress gateway and a three-service demo on this machine",
		Long: `Run weftd, an ingress gateway and a three-service demo on this machine.

The demo starts weftd with a fresh data directory, applies the resources of examples/demo
(a Mesh, five Services, a Gateway with its route, and a 90/10 canary route), then starts
demo-app processes, each with its weft-proxy sidecar:

  curl -> ingress gateway -> web-api -> recommendation (v1 90%, v2 10%) -> purchase-history

Every call between services goes over mutual TLS between the proxies. It finds weftd,
weft-proxy and demo-app next to weft, else on PATH, else builds them when run inside
Weft's source tree. While it runs, 'weft' talks to the demo's weftd (the demo installs
~/.weft/config.yaml unless one of your own is there). Ctrl-C stops everything and
removes what the demo wrote.`,
		Example: `  weft demo
  weft demo --port 9080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second Ctrl-C kills weft demo at once (its children die with it)
			}()
			opts.Out = cmd.OutOrStdout()
			return Run(ctx, opts)
		},
	}
	cmd.Flags().IntVar(&opts.Port, "port", 8080, "port of the ingress gateway on 127.0.0.1")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "weftd's data directory (default: a temporary one, removed at exit)")
	return cmd
}
