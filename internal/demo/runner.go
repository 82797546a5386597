package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	demoyaml "github.com/weftmesh/weft/examples/demo"
	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
)

// Stop tiers: the proxies stop first (they drain), then the apps, then weftd.
const (
	tierWeftd = iota
	tierApp
	tierProxy
)

// proxyChild is a running weft-proxy and its admin address.
type proxyChild struct {
	*child
	admin string
}

// runner is one run of the demo: it starts the processes in order, watches them, and undoes
// everything it did in cleanup.
type runner struct {
	opts  Options
	out   io.Writer
	probe *prober

	workDir    string
	removeWork bool // the demo created workDir
	logDir     string
	dataDir    string
	removeData bool // the demo created dataDir

	procs   *processes
	exited  chan *child
	tiers   map[*child]int
	proxies []proxyChild
	gateway *child

	bins       binaries
	plan       plan
	clientYAML string // weftd's client config for weft (<data-dir>/client.yaml)
	bootstrap  string // the proxies' bootstrap (<data-dir>/proxy-bootstrap.json)
	clientCfg  *apiclient.ClientConfig
	cfgPath    string // the client config `weft` should use
	installed  []byte // what the demo wrote at opts.ClientConfigPath, nil if nothing
	// installedDir is the directory the demo created for the client config, if it did.
	installedDir string
}

func newRunner(opts Options) *runner {
	return &runner{
		opts:   opts,
		out:    opts.Out,
		probe:  newProber(),
		exited: make(chan *child, 64),
		tiers:  map[*child]int{},
	}
}

// run starts the demo, then waits for ctx to end.
func (r *runner) run(ctx context.Context) error {
	steps := []func(context.Context) error{
		r.checkPorts,
		r.prepareDirs,
		r.resolveBinaries,
		r.layout,
		r.startWeftd,
		r.applyResources,
		r.createJoinTokens,
		r.startWorkloads,
		r.waitReady,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := r.printRunning(); err != nil {
		return err
	}
	r.watch(ctx)
	return nil
}

// checkPorts fails early, and clearly, when weftd's or the gateway's ports are taken.
func (r *runner) checkPorts(context.Context) error {
	for _, a := range []struct{ what, addr string }{
		{"weftd's API", r.opts.APIAddr},
		{"weftd's xDS", r.opts.XDSAddr},
	} {
		if err := checkFree(a.addr); err != nil {
			if errors.Is(err, errPortTaken) {
				return fmt.Errorf("%s address %s is taken: is another weftd or demo running?", a.what, a.addr)
			}
			return err
		}
	}
	if r.opts.Port != 0 {
		if err := checkFree(loopback(r.opts.Port)); err != nil {
			if errors.Is(err, errPortTaken) {
				return fmt.Errorf("port %d for the ingress gateway is taken: choose another with --port", r.opts.Port)
			}
			return err
		}
	}
	return nil
}

// prepareDirs creates the work, log and data directories.
func (r *runner) prepareDirs(context.Context) error {
	r.workDir = r.opts.WorkDir
	if r.workDir == "" {
		dir, err := os.MkdirTemp("", "weft-demo-")
		if err != nil {
			return fmt.Errorf("creating the demo's directory: %w", err)
		}
		r.workDir, r.removeWork = dir, true
	}
	r.procs = &processes{logDir: filepath.Join(r.workDir, "logs"), exited: r.exited}
	r.logDir = r.procs.logDir
	if err := os.MkdirAll(r.logDir, 0o700); err != nil {
		return fmt.Errorf("creating the log directory: %w", err)
	}
	r.dataDir = r.opts.DataDir
	if r.dataDir == "" {
		r.dataDir, r.removeData = filepath.Join(r.workDir, "weftd"), true
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating weftd's data directory: %w", err)
	}
	// The proxies get the bootstrap's path: make it mean the same wherever they run.
	abs, err := filepath.Abs(r.dataDir)
	if err != nil {
		return fmt.Errorf("weftd's data directory: %w", err)
	}
	r.dataDir = abs
	r.clientYAML = filepath.Join(r.dataDir, "client.yaml")
	r.bootstrap = filepath.Join(r.dataDir, "proxy-bootstrap.json")
	fmt.Fprintf(r.out, "Logs of every process: %s\n", r.logDir)
	return nil
}

// resolveBinaries finds weftd, weft-proxy and demo-app, or builds them.
func (r *runner) resolveBinaries(ctx context.Context) error {
	if r.opts.BinDir != "" {
		b, missing := binariesIn(r.opts.BinDir)
		if len(missing) > 0 {
			return fmt.Errorf("no %s in %s", strings.Join(missing, ", "), r.opts.BinDir)
		}
		r.bins = b
		return nil
	}
	var searched []string
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dir := filepath.Dir(exe)
		if b, missing := binariesIn(dir); len(missing) == 0 {
			r.bins = b
			return nil
		}
		searched = append(searched, dir)
	}
	if b, missing := binariesOnPath(exec.LookPath); len(missing) == 0 {
		r.bins = b
		return nil
	}
	searched = append(searched, "PATH")
	cannot := func(reason error) error {
		return fmt.Errorf("weftd, weft-proxy and demo-app are not all in %s, and the demo cannot build them: %w\n"+
			"build them in Weft's source tree with\n    go build -o ~/bin/ ./cmd/weftd ./cmd/weft-proxy ./examples/demo-app\n"+
			"and put that directory on PATH", strings.Join(searched, " nor on "), reason)
	}
	wd, err := os.Getwd()
	if err != nil {
		return cannot(err)
	}
	root, err := findModuleRoot(wd)
	if err != nil {
		return cannot(fmt.Errorf("%s: %w", wd, err))
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return cannot(fmt.Errorf("no go command on PATH: %w", err))
	}
	out := filepath.Join(r.workDir, "bin")
	fmt.Fprintf(r.out, "Building weftd, weft-proxy and demo-app from %s into %s (go build)...\n", root, out)
	r.bins, err = buildBinaries(ctx, goTool, root, out, r.out)
	return err
}

// layout chooses free ports for every process.
func (r *runner) layout(context.Context) error {
	n := portsNeeded(demoApps)
	if r.opts.Port == 0 {
		n++
	}
	ports, err := freePorts(n)
	if err != nil {
		return err
	}
	gatewayPort := r.opts.Port
	if gatewayPort == 0 {
		gatewayPort, ports = ports[0], ports[1:]
	}
	r.plan, err = newPlan(demoApps, demoyaml.Gateway, gatewayPort, ports)
	return err
}

// startWeftd starts weftd, waits until its API answers, and installs its client config.
func (r *runner) startWeftd(ctx context.Context) error {
	c, err := r.procs.start("weftd", "weftd", r.bins.Weftd,
		"--data-dir", r.dataDir, "--api-addr", r.opts.APIAddr, "--xds-addr", r.opts.XDSAddr)
	if err != nil {
		return err
	}
	r.tiers[c] = tierWeftd
	var cfg *apiclient.ClientConfig
	err = waitUntil(ctx, "weftd", r.opts.ReadyTimeout, r.exited, func(ctx context.Context) error {
		var err error
		cfg, err = clientconfig.Load(r.clientYAML)
		if err != nil {
			return &notReady{who: c, reason: err.Error()}
		}
		client, err := apiclient.New(cfg)
		if err != nil {
			return err
		}
		defer client.Close()
		if _, err := client.Version(ctx); err != nil {
			return &notReady{who: c, reason: err.Error()}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.clientCfg = cfg
	fmt.Fprintf(r.out, "weftd is up: API %s, xDS %s, data in %s\n", cfg.Server, cfg.XDS, r.dataDir)
	return r.installClientConfig(cfg)
}

// installClientConfig installs weftd's client config where `weft` looks by default, unless a
// config that is not the demo's is there.
func (r *runner) installClientConfig(cfg *apiclient.ClientConfig) error {
	path := r.opts.ClientConfigPath
	ok, err := mayInstallConfig(path)
	if err != nil {
		return err
	}
	if !ok {
		r.cfgPath = r.clientYAML
		return nil
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		r.installedDir = filepath.Dir(path)
	}
	r.installed, err = installConfig(path, cfg)
	if err != nil {
		return err
	}
	r.cfgPath = path
	return nil
}

// applyResources applies the demo's resources, with the Gateway listening on the demo's port.
func (r *runner) applyResources(ctx context.Context) error {
	req, err := applyRequest(demoyaml.FS, demoyaml.BaseFiles(), demoyaml.Gateway, demoyaml.GatewayPort, r.plan.Gateway.Port)
	if err != nil {
		return err
	}
	client, err := apiclient.New(r.clientCfg)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := client.Apply(ctx, req)
	if err != nil {
		return fmt.Errorf("applying the demo's resources: %w", err)
	}
	fmt.Fprintf(r.out, "Applied %d resources from examples/demo (%s)\n", len(resp.Results), strings.Join(demoyaml.BaseFiles(), ", "))
	return nil
}

// startWorkloads starts the apps, their sidecars and the gateway.
func (r *runner) startWorkloads(context.Context) error {
	for _, w := range r.plan.Workloads {
		c, err := r.procs.start(w.Name()+" app", w.logName()+"-app", r.bins.App, w.appArgs()...)
		if err != nil {
			return err
		}
		r.tiers[c] = tierApp
	}
	drain := r.opts.StopTimeout / 2
	for _, w := range r.plan.Workloads {
		args := append(w.proxyArgs(r.bootstrap, drain), r.joinTokenArgs(w.proxyLogName())...)
		c, err := r.procs.start(w.Name()+" proxy", w.proxyLogName(), r.bins.Proxy, args...)
		if err != nil {
			return err
		}
		r.tiers[c] = tierProxy
		r.proxies = append(r.proxies, proxyChild{child: c, admin: w.adminAddr()})
	}
	g := r.plan.Gateway
	args := append(g.proxyArgs(r.bootstrap, drain), r.joinTokenArgs(g.logName())...)
	c, err := r.procs.start(g.Name+" gateway proxy", g.logName(), r.bins.Proxy, args...)
	if err != nil {
		return err
	}
	r.tiers[c] = tierProxy
	r.proxies = append(r.proxies, proxyChild{child: c, admin: g.adminAddr()})
	r.gateway = c
	return nil
}

// waitReady waits until every proxy is ready, then until the whole chain answers through the
// gateway.
func (r *runner) waitReady(ctx context.Context) error {
	fmt.Fprintf(r.out, "Waiting for the proxies and the chain to answer (at most %s)...\n", r.opts.ReadyTimeout)
	err := waitUntil(ctx, "the proxies", r.opts.ReadyTimeout, r.exited, func(ctx context.Context) error {
		for _, p := range r.proxies {
			if err := r.probe.get(ctx, p.child, "http://"+p.admin+"/ready"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return waitUntil(ctx, "the demo chain", r.opts.ReadyTimeout, r.exited, func(ctx context.Context) error {
		return r.probe.get(ctx, r.gateway, r.plan.Gateway.URL())
	})
}

// watch reports children that exit while the demo runs, until ctx is done. A process that
// exits is not restarted: stopping one is a fair experiment.
func (r *runner) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-r.exited:
			fmt.Fprintf(r.out, "\nWarning: %v\n%s\n", c.exitError(), c.tail())
		}
	}
}

// cleanup stops every child, removes the client config the demo installed, the data directory
// it created and, unless the demo failed, its work directory.
func (r *runner) cleanup(failed bool) {
	if r.workDir == "" {
		return // nothing was started nor created
	}
	if len(r.procs.list()) > 0 {
		fmt.Fprintln(r.out, "\nStopping the demo...")
		r.procs.stopAll(r.opts.StopTimeout, func(c *child) int { return r.tiers[c] })
	}
	_ = os.RemoveAll(r.tokenDir()) // the proxies' credentials never outlive the demo
	if r.installed != nil {
		removed, err := removeConfig(r.opts.ClientConfigPath, r.installed)
		switch {
		case err != nil:
			fmt.Fprintf(r.out, "Warning: %v\n", err)
		case removed:
			fmt.Fprintf(r.out, "Removed the demo's client config %s\n", r.opts.ClientConfigPath)
			if r.installedDir != "" {
				_ = os.Remove(r.installedDir) // only if still empty
			}
		}
	}
	if r.removeData {
		if err := os.RemoveAll(r.dataDir); err != nil {
			fmt.Fprintf(r.out, "Warning: removing weftd's data directory: %v\n", err)
		}
	}
	if r.removeWork {
		if failed {
			fmt.Fprintf(r.out, "The logs are kept in %s\n", r.logDir)
		} else if err := os.RemoveAll(r.workDir); err != nil {
			fmt.Fprintf(r.out, "Warning: removing the demo's directory: %v\n", err)
		}
	}
	if !failed {
		fmt.Fprintln(r.out, "Stopped.")
	}
}
