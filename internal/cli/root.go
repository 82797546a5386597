// Package cli implements the weft command line: apply, get, delete, version, mtls report and
// demo. It talks to weftd's API, and `weft mtls report` also to the proxies' admin endpoints.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
	"github.com/weftmesh/weft/internal/demo"
)

// options are the global flags.
type options struct {
	configPath string
	timeout    time.Duration
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

// NewRoot returns the weft root command. Output goes to stdout/stderr; stdin feeds `apply -f -`.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "weft",
		Short: "weft controls a Weft service mesh",
		Long: `weft controls a Weft service mesh: it applies and reads resources through weftd's API
and runs the demo.

It finds weftd through a client config file: --config, else $WEFT_CONFIG, else
~/.weft/config.yaml. weftd writes that file as <data-dir>/client.yaml at first start, and
'weft demo' installs it for you while the demo runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&o.configPath, "config", "", "client config file (default $WEFT_CONFIG, else ~/.weft/config.yaml)")
	root.PersistentFlags().DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for weftd")
	root.AddCommand(
		newApplyCmd(o),
		newGetCmd(o),
		newDeleteCmd(o),
		newVersionCmd(o),
		newTokenCmd(o),
		newMTLSCmd(o),
		newCACmd(o),
		demo.NewCommand(),
	)
	return root
}

// Main runs the weft command line and returns the process exit code.
func Main(args []string) int {
	root := NewRoot(os.Stdin, os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

// client loads the client config and returns an API client.
func (o *options) client() (*apiclient.Client, error) {
	path := o.configPath
	if path == "" {
		path = os.Getenv("WEFT_CONFIG")
	}
	if path == "" {
		path = clientconfig.DefaultPath()
	}
	cfg, err := clientconfig.Load(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no client config at %s: start weftd (it writes <data-dir>/client.yaml) or 'weft demo', or pass --config", path)
		}
		return nil, err
	}
	return apiclient.New(cfg)
}

// connect returns an API client and a context bounded by --timeout; done releases both.
func (o *options) connect(parent context.Context) (context.Context, *apiclient.Client, func(), error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := o.context(parent)
	return ctx, c, func() { cancel(); c.Close() }, nil
}

func (o *options) context(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, o.timeout)
}
