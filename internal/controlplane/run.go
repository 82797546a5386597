package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/apiserver"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/clientconfig"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/tokens"
	"github.com/weftmesh/weft/internal/xds"
)

// Files in the data directory.
const (
	StoreFile        = "store.db"
	CADir            = "ca"
	TokenFile        = "admin.token"
	ServingCertFile  = "serving.pem"
	ServingKeyFile   = "serving-key.pem"
	ClientConfigFile = "client.yaml"
	// ProxyBootstrapFile is the proxies' bootstrap: client.yaml without the admin token, in
	// JSON, readable by all.
	ProxyBootstrapFile = "proxy-bootstrap.json"
)

// shutdownTimeout bounds the graceful stop of the servers.
const shutdownTimeout = 5 * time.Second

// xdsService is what weftd needs of the xDS server (a seam for the tests).
type xdsService interface {
	Update(snap *mesh.Snapshot)
	Register(g *grpc.Server)
	Run(ctx context.Context) error
	// Proxies lists the connected proxies (a CA rotation waits on their trust bundles).
	Proxies() []xds.ProxyStatus
}

type newXDSFunc func(cfg xds.Config, log *slog.Logger, reg prometheus.Registerer) xdsService

func newXDS(cfg xds.Config, log *slog.Logger, reg prometheus.Registerer) xdsService {
	return xds.NewServer(cfg, log, reg)
}

// Run runs weftd until ctx is done, then stops gracefully. It returns an error when weftd
// cannot start or one of its servers fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return run(ctx, cfg, log, newXDS)
}

func run(ctx context.Context, cfg Config, log *slog.Logger, makeXDS newXDSFunc) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := ensureDataDir(cfg.DataDir, log); err != nil {
		return err
	}

	st, err := store.OpenBolt(store.BoltConfig{Path: filepath.Join(cfg.DataDir, StoreFile)}, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "error", err)
		}
	}()
	// The built-in root of <data-dir>/ca signs weftd's serving certificate, which clients
	// check with client.yaml's CA; workload certificates are the CA manager's (openCA).
	servingCA, err := ca.LoadOrCreateBuiltin(ca.BuiltinConfig{Dir: filepath.Join(cfg.DataDir, CADir), ServingOnly: true}, log.With("component", "ca"))
	if err != nil {
		return err
	}
	reg, err := registry.Open(registry.Config{TTL: cfg.LeaseTTL, TrustDomain: trustDomainFunc(st, log)}, st.DB(), log.With("component", "registry"))
	if err != nil {
		return err
	}
	joinTokens, err := tokens.Open(tokens.Config{}, st.DB(), log.With("component", "tokens"))
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(filepath.Join(cfg.DataDir, TokenFile))
	if err != nil {
		return err
	}
	serving, err := servingCA.ServingCertificate(filepath.Join(cfg.DataDir, ServingCertFile), filepath.Join(cfg.DataDir, ServingKeyFile), cfg.ExtraSANs)
	if err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weftd_workloads", Help: "Registered workloads with a live lease."},
			func() float64 { return float64(len(reg.List())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weftd_store_revision", Help: "Revision of the resource store."},
			func() float64 { return float64(st.Revision()) }),
	)
	xdsServer := makeXDS(xds.Config{Debounce: cfg.Debounce}, log.With("component", "xds"), metrics)
	authority, err := openCA(cfg, st, reg, xdsServer, log.With("component", "ca"))
	if err != nil {
		return err
	}
	api, err := apiserver.New(apiserver.Config{
		Token:       token,
		Store:       st,
		Registry:    reg,
		Authority:   authority,
		CA:          authority,
		Tokens:      joinTokens,
		ClientTrust: authority.TrustPool,
		Version:     cfg.Version,
		Metrics:     promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}),
		Registerer:  metrics,
	}, log.With("component", "api"))
	if err != nil {
		return err
	}

	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listening for the API on %s: %w", cfg.APIAddr, err)
	}
	defer apiLn.Close()
	xdsLn, err := net.Listen("tcp", cfg.XDSAddr)
	if err != nil {
		return fmt.Errorf("listening for xDS on %s: %w", cfg.XDSAddr, err)
	}
	defer xdsLn.Close()

	reach := apiclient.ClientConfig{
		Server: "https://" + dialable(apiLn.Addr()),
		XDS:    dialable(xdsLn.Addr()),
		CA:     string(servingCA.TrustBundle()),
	}
	bootstrapPath := filepath.Join(cfg.DataDir, ProxyBootstrapFile)
	if err := apiclient.WriteBootstrap(bootstrapPath, &reach); err != nil {
		return err
	}
	clientPath := filepath.Join(cfg.DataDir, ClientConfigFile)
	if err := clientconfig.Write(clientPath, reach.WithToken(token)); err != nil {
		return err
	}

	httpServer := &http.Server{
		Handler:           api,
		TLSConfig:         apiServerTLS(serving, authority.TrustPool),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.With("component", "api").Handler(), slog.LevelDebug),
	}
	grpcServer := grpc.NewServer(grpc.Creds(credentials.NewTLS(xdsServerTLS(serving, authority.TrustPool))))
	xdsServer.Register(grpcServer)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	start := func(name string, fn func() error) {
		wg.Go(func() {
			if err := fn(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	// The first snapshot is handed over before any proxy can connect.
	snaps := newSnapshotter(st, reg, authority, xdsServer, log.With("component", "snapshots"))
	defer snaps.unsubscribe()
	if err := snaps.push(runCtx); err != nil {
		return err
	}
	start("snapshots", func() error { return snaps.run(runCtx) })
	start("xds", func() error { return xdsServer.Run(runCtx) })
	start("registry", func() error { return reg.Run(runCtx) })
	start("ca", func() error { return authority.Run(runCtx) })
	start("xds server", func() error { return grpcServer.Serve(xdsLn) })
	start("api server", func() error {
		if err := httpServer.ServeTLS(apiLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	ep := Endpoints{API: apiLn.Addr().String(), XDS: xdsLn.Addr().String(), ClientConfig: clientPath, ProxyBootstrap: bootstrapPath}
	log.Info("weftd started", "version", cfg.Version, "api", "https://"+ep.API, "xds", ep.XDS,
		"dataDir", cfg.DataDir, "clientConfig", clientPath, "leaseTTL", cfg.LeaseTTL)
	if cfg.Ready != nil {
		cfg.Ready(ep)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("weftd stopping")
	case runErr = <-errs:
		log.Error("weftd stopping after a failure", "error", runErr)
	}
	cancel()
	stopServers(httpServer, grpcServer, log)
	wg.Wait()
	close(errs)
	if runErr == nil {
		runErr = <-errs // a failure during the stop, if any
	}
	log.Info("weftd stopped")
	return runErr
}

// stopServers stops the API and xDS servers, giving in-flight calls shutdownTimeout.
func stopServers(httpServer *http.Server, grpcServer *grpc.Server, log *slog.Logger) {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("stopping the API server", "error", err)
		_ = httpServer.Close()
	}
	stopped := make(chan struct{})
	go func() {
		grpcServer.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		grpcServer.Stop() // ADS streams last as long as their proxies: cut them
		<-stopped
	}
}

// trustDomainFunc reads the mesh's trust domain from the store.
func trustDomainFunc(st store.Store, log *slog.Logger) func() string {
	return func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := store.EffectiveMesh(ctx, st)
		if err != nil {
			log.Error("reading the Mesh for its trust domain; using the default", "error", err)
			m = mesh.DefaultMesh()
		}
		return m.Spec.TrustDomain
	}
}

// dialable turns a bound address into one a client on this machine can dial: an unspecified
// host (0.0.0.0 or ::) becomes the loopback address.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// ensureDataDir creates the data directory with mode 0700, and warns when an existing one is
// open to other users.
func ensureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking data dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if info.Mode().Perm()&0o077 != 0 {
		log.Warn("the data dir is open to other users; chmod 700 it", "path", dir, "mode", info.Mode().Perm().String())
	}
	return nil
}
