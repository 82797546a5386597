package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/proxy/admin"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane"
	"github.com/weftmesh/weft/internal/proxy/identity"
	"github.com/weftmesh/weft/internal/proxy/stats"
	"github.com/weftmesh/weft/internal/proxy/xdsclient"
	"github.com/weftmesh/weft/internal/wire"
)

// Run runs the proxy until ctx is done (SIGTERM) or POST /drain, then drains and returns nil.
// It returns an error when the proxy cannot start (bad config, admin address in use, weftd
// refusing the registration or the certificate for good) or when the xDS client fails for good.
// Losing weftd is not an error: the proxy keeps serving its last configuration and retries.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return run(ctx, cfg, log, realDeps())
}

func run(ctx context.Context, cfg Config, log *slog.Logger, d deps) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid proxy configuration: %w", err)
	}
	a, err := newAgent(cfg, log.With("mode", cfg.Mode, "workloadID", cfg.ID), d)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// agent is one run of the proxy.
type agent struct {
	cfg  Config
	log  *slog.Logger
	deps deps

	api   *apiclient.Client
	reg   *stats.Registry
	dp    dataPlane
	xds   xdsClient
	admin *admin.Server

	id       atomic.Pointer[identity.Manager]
	applied  atomic.Bool
	draining atomic.Bool
	status   atomic.Pointer[string] // why the proxy is not ready yet, while starting

	drainOnce sync.Once
	drainCh   chan struct{}

	leaseFailures *stats.Counter
	trim          memoryTrim

	// workload is the registration (sidecar mode); lease holds its renewal state.
	workload *wire.Workload
	lease    leaseState
}

func newAgent(cfg Config, log *slog.Logger, d deps) (*agent, error) {
	a := &agent{cfg: cfg, log: log, deps: d, drainCh: make(chan struct{})}
	a.setStatus("starting")

	// Once the workload holds a certificate, it authenticates the proxy's calls to weftd's
	// API in place of the bootstrap's or join token: a join token only bootstraps it.
	api, err := apiclient.New(cfg.ClientConfig, apiclient.WithClientCertificate(a.apiCertificate))
	if err != nil {
		return nil, fmt.Errorf("creating weftd's API client: %w", err)
	}
	a.api = api

	a.reg = stats.NewRegistry().WithRuntimeMetrics()
	a.registerMetrics()

	a.dp, err = d.newDataPlane(dataplane.Config{Certs: certSource{a}, Logger: log, Stats: a.reg})
	if err != nil {
		return nil, fmt.Errorf("creating the data plane: %w", err)
	}

	tlsConf, err := a.xdsTLS()
	if err != nil {
		return nil, err
	}
	a.xds, err = d.newXDS(xdsclient.Config{
		Address: cfg.ClientConfig.XDS,
		TLS:     tlsConf,
		NodeID:  cfg.ID,
		Meta:    a.proxyMeta(),
	}, log)
	if err != nil {
		return nil, fmt.Errorf("creating the xDS client: %w", err)
	}

	a.admin, err = admin.New(admin.Config{
		Addr:      cfg.AdminAddr,
		Version:   cfg.BuildVersion,
		Stats:     a.reg,
		Ready:     a.ready,
		Drain:     a.requestDrain,
		Identity:  identityView{a},
		XDSStatus: a.xds.Status,
		Config:    a.dp.Current,
		Plaintext: a.dp.PlaintextReport,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("creating the admin server: %w", err)
	}
	return a, nil
}

func (a *agent) registerMetrics() {
	a.reg.Gauge("weft_proxy_info", "Always 1; labels say the proxy's build version and mode.",
		"version", a.cfg.BuildVersion, "mode", a.cfg.Mode).Set(1)
	a.leaseFailures = a.reg.Counter("weft_proxy_lease_renewal_failures_total",
		"Lease renewals (or re-registrations) that failed.")
	a.reg.GaugeFunc("weft_proxy_ready", "1 when the proxy is ready (GET /ready answers 200), else 0.", func() float64 {
		if a.ready() == nil {
			return 1
		}
		return 0
	})
	a.reg.GaugeFunc("weft_proxy_certificate_expiry_timestamp_seconds",
		"When the workload certificate expires (Unix time); 0 before the first one.", func() float64 {
			if id := a.id.Load(); id != nil && !id.Expiry().IsZero() {
				return float64(id.Expiry().Unix())
			}
			return 0
		})
}

// xdsTLS is the mutual TLS to weftd's xDS server: weftd's CA, the workload certificate.
func (a *agent) xdsTLS() (*tls.Config, error) {
	pool, err := a.cfg.ClientConfig.CertPool()
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	host, _, err := net.SplitHostPort(a.cfg.ClientConfig.XDS)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: xds %q: %w", a.cfg.ClientConfig.XDS, err)
	}
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              pool,
		ServerName:           host,
		GetClientCertificate: a.clientCertificate,
	}, nil
}

func (a *agent) clientCertificate(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if id := a.id.Load(); id != nil {
		return id.GetClientCertificate(info)
	}
	return nil, errors.New("the proxy has no workload certificate yet")
}

// apiCertificate is the certificate the proxy presents to weftd's API: the workload
// certificate while it is valid, else nil (the API client then sends the bearer token).
func (a *agent) apiCertificate() *tls.Certificate {
	id := a.id.Load()
	if id == nil {
		return nil
	}
	c := id.Certificate()
	if c == nil || c.Leaf == nil {
		return nil
	}
	if now := time.Now(); now.Before(c.Leaf.NotBefore) || !now.Before(c.Leaf.NotAfter) {
		return nil
	}
	return c
}

func (a *agent) proxyMeta() wire.ProxyMeta {
	m := wire.ProxyMeta{
		Mode:           a.cfg.Mode,
		WorkloadID:     a.cfg.ID,
		Namespace:      a.cfg.Namespace,
		ServiceAccount: a.cfg.ServiceAccount,
		Address:        a.cfg.Address,
		Version:        a.cfg.BuildVersion,
	}
	switch a.cfg.Mode {
	case wire.ModeSidecar:
		m.Service = a.cfg.Service
		m.InboundPort = a.cfg.InboundPort
		m.Apps = slices.Clone(a.cfg.Apps)
		m.Upstreams = slices.Clone(a.cfg.Upstreams)
	case wire.ModeGateway:
		m.Gateway = a.cfg.Gateway
	}
	return m
}

// run is the proxy's life: start, serve, drain.
func (a *agent) run(ctx context.Context) error {
	defer a.api.Close()
	defer func() {
		if cerr := a.dp.Close(); cerr != nil {
			a.log.Warn("closing the data plane", "error", cerr)
		}
	}()

	adminAddr, err := a.admin.Listen()
	if err != nil {
		return err
	}
	// The admin server outlives ctx: /ready must answer 503 while draining.
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	adminDone := make(chan error, 1)
	go func() { adminDone <- a.admin.Serve(adminCtx) }()
	defer func() {
		stopAdmin()
		if aerr := <-adminDone; aerr != nil {
			a.log.Warn("admin server", "error", aerr)
		}
	}()
	a.log.Info("admin server listening", "addr", adminAddr.String())

	// Background work lives until the drain is over, not just until ctx.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	wg.Go(func() { a.trim.run(bg, trimInterval) })
	stop := &stopper{}

	spiffeID, err := a.identify(ctx, adminAddr)
	if err != nil {
		if ctx.Err() != nil || a.drainRequested() {
			a.log.Info("stopped before the workload was registered")
			return nil
		}
		return err
	}
	if a.workload != nil {
		leaseCtx, stopLease := context.WithCancel(bg)
		done := make(chan struct{})
		go func() { defer close(done); a.leaseLoop(leaseCtx) }()
		stop.lease = func() { stopLease(); <-done }
	}

	idm, err := identity.New(identity.Config{
		Signer:         a.api,
		SPIFFEID:       spiffeID,
		WorkloadID:     a.workloadID(),
		RetryMin:       a.deps.retryMin,
		RetryMax:       max(a.deps.retryMax, a.deps.retryMin),
		RequestTimeout: a.deps.callTimeout,
	}, a.log)
	if err != nil {
		a.shutdown(stop, "invalid identity")
		return fmt.Errorf("creating the identity: %w", err)
	}
	a.id.Store(idm)
	a.setStatus("waiting for the workload certificate")
	idDone := make(chan error, 1)
	wg.Go(func() { idDone <- idm.Run(bg) })

	select {
	case <-idm.Ready():
	case err := <-idDone:
		a.shutdown(stop, "no certificate")
		return err
	case <-ctx.Done():
		a.shutdown(stop, "stop signal")
		return nil
	case <-a.drainCh:
		a.shutdown(stop, "drain requested")
		return nil
	}

	a.setStatus("waiting for the first configuration from weftd")
	xdsCtx, stopXDS := context.WithCancel(bg)
	xdsDone := make(chan error, 1)
	go func() { xdsDone <- a.xds.Run(xdsCtx, a.apply) }()
	stop.xds = func() {
		stopXDS()
		if xerr := <-xdsDone; xerr != nil && !errors.Is(xerr, context.Canceled) {
			a.log.Warn("xDS client", "error", xerr)
		}
	}
	a.log.Info("connecting to weftd's xDS server", "addr", a.cfg.ClientConfig.XDS)

	var runErr error
	select {
	case <-ctx.Done():
		a.shutdown(stop, "stop signal")
	case <-a.drainCh:
		a.shutdown(stop, "drain requested")
	case xerr := <-xdsDone:
		stop.xds = nil // already stopped
		if xerr == nil {
			xerr = errors.New("it returned")
		}
		runErr = fmt.Errorf("the xDS client stopped: %w", xerr)
		a.log.Error("the xDS client stopped; draining", "error", xerr)
		a.shutdown(stop, "xDS client stopped")
	case ierr := <-idDone: // Run does not fail once a certificate is held; defensive.
		if ierr == nil {
			ierr = errors.New("it returned")
		}
		runErr = fmt.Errorf("the identity stopped: %w", ierr)
		a.shutdown(stop, "identity stopped")
	}
	return runErr
}

// deregisterTimeout bounds the deregistration when draining.
const deregisterTimeout = 3 * time.Second

// stopper holds how to stop what was started, in the order shutdown needs.
type stopper struct {
	lease func() // stops the lease loop and waits for it
	xds   func() // stops the xDS client and waits for it
}

// shutdown drains: not ready, deregistered, grace while still serving, drain the data plane,
// then stop the xDS client. Identity and admin stop when run returns.
func (a *agent) shutdown(stop *stopper, reason string) {
	a.draining.Store(true)
	a.log.Info("draining", "reason", reason, "grace", a.cfg.DrainGrace, "drainTimeout", a.cfg.DrainTimeout)
	if stop.lease != nil {
		stop.lease() // first, so that a renewal cannot register the workload again
	}
	if a.workload != nil {
		// Short: an unreachable weftd must not hold up the drain; the lease expires anyway.
		ctx, cancel := context.WithTimeout(context.Background(), min(a.deps.callTimeout, deregisterTimeout))
		err := a.api.DeregisterWorkload(ctx, a.workload.ID)
		cancel()
		switch {
		case err == nil:
			a.log.Info("workload deregistered")
		case errors.Is(err, apiclient.ErrNotFound):
			a.log.Info("workload already gone from weftd's registry")
		default:
			a.log.Warn("deregistering the workload failed; weftd drops it when its lease expires", "error", err)
		}
	}
	if a.applied.Load() {
		// Keep serving while the removal reaches the callers' proxies.
		t := time.NewTimer(a.cfg.DrainGrace)
		<-t.C
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
		err := a.dp.Drain(ctx)
		cancel()
		if err != nil {
			a.log.Warn("draining the data plane did not finish cleanly", "error", err)
		} else {
			a.log.Info("data plane drained")
		}
	}
	if stop.xds != nil {
		stop.xds()
	}
	a.log.Info("proxy stopped")
}

// apply installs a configuration received over xDS.
func (a *agent) apply(c *config.Config) error {
	if err := a.dp.Apply(c); err != nil {
		if errors.Is(err, dataplane.ErrClosed) && a.draining.Load() {
			return nil // drained and about to exit: not a reason to NACK weftd
		}
		return err
	}
	a.trim.touch()
	if !a.applied.CompareAndSwap(false, true) {
		a.log.Debug("configuration applied", "version", c.Version)
		return nil
	}
	a.setStatus("")
	// The data plane logs each listener it starts, with its address.
	a.log.Info("first configuration applied; the proxy is ready", "version", c.Version,
		"listeners", len(c.Listeners), "clusters", len(c.Clusters))
	return nil
}

func (a *agent) requestDrain() {
	a.drainOnce.Do(func() { close(a.drainCh) })
}

func (a *agent) drainRequested() bool {
	select {
	case <-a.drainCh:
		return true
	default:
		return false
	}
}

func (a *agent) setStatus(s string) { a.status.Store(&s) }

// ready is the answer of GET /ready.
func (a *agent) ready() error {
	if a.draining.Load() {
		return errors.New("draining")
	}
	if id := a.id.Load(); id != nil {
		c := id.Certificate()
		if c == nil {
			if err := id.Err(); err != nil {
				return fmt.Errorf("no workload certificate yet (last attempt: %v)", err)
			}
			return errors.New("no workload certificate yet")
		}
		if !time.Now().Before(c.Leaf.NotAfter) {
			return fmt.Errorf("the workload certificate expired at %s and could not be renewed", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if a.applied.Load() {
		return nil
	}
	if s := a.status.Load(); s != nil && *s != "" {
		return errors.New(*s)
	}
	return errors.New("starting")
}

func (a *agent) workloadID() string {
	if a.workload != nil {
		return a.workload.ID
	}
	return ""
}

// certSource serves the identity's certificate to the data plane.
type certSource struct{ a *agent }

func (c certSource) Certificate() *tls.Certificate {
	if id := c.a.id.Load(); id != nil {
		return id.Certificate()
	}
	return nil
}

// identityView shows the identity in /config_dump before it exists.
type identityView struct{ a *agent }

func (v identityView) SPIFFEID() string {
	if id := v.a.id.Load(); id != nil {
		return id.SPIFFEID()
	}
	return ""
}

func (v identityView) Expiry() time.Time {
	if id := v.a.id.Load(); id != nil {
		return id.Expiry()
	}
	return time.Time{}
}

func (v identityView) SerialNumber() string {
	if id := v.a.id.Load(); id != nil {
		return id.SerialNumber()
	}
	return ""
}
