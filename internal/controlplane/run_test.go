package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
	"github.com/weftmesh/weft/internal/xds"
)

// fakeXDS records the snapshots weftd hands over.
type fakeXDS struct {
	mu    sync.Mutex
	snaps []*mesh.Snapshot
}

func (f *fakeXDS) Update(s *mesh.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps = append(f.snaps, s)
}

func (f *fakeXDS) Register(*grpc.Server) {}

func (f *fakeXDS) Proxies() []xds.ProxyStatus { return nil }

func (f *fakeXDS) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (f *fakeXDS) latest() *mesh.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.snaps) == 0 {
		return nil
	}
	return f.snaps[len(f.snaps)-1]
}

// weftd is one running instance under test.
type weftd struct {
	ep     Endpoints
	xds    *fakeXDS
	cancel context.CancelFunc
	done   chan error
}

// startWeftd runs weftd with a fake xDS server that records the snapshots.
func startWeftd(t *testing.T, dataDir string) *weftd {
	t.Helper()
	fake := &fakeXDS{}
	w := startWeftdWith(t, dataDir, func(xds.Config, *slog.Logger, prometheus.Registerer) xdsService { return fake })
	w.xds = fake
	return w
}

// startWeftdWith runs weftd with the given xDS server.
func startWeftdWith(t *testing.T, dataDir string, makeXDS newXDSFunc) *weftd {
	t.Helper()
	ready := make(chan Endpoints, 1)
	cfg := Config{
		DataDir:  dataDir,
		APIAddr:  "127.0.0.1:0",
		XDSAddr:  "127.0.0.1:0",
		LeaseTTL: time.Minute,
		Version:  "test",
		Ready:    func(ep Endpoints) { ready <- ep },
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &weftd{cancel: cancel, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { w.done <- run(ctx, cfg, log, makeXDS) }()
	select {
	case w.ep = <-ready:
	case err := <-w.done:
		cancel()
		t.Fatalf("weftd stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("weftd was not ready within 20s")
	}
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *weftd) stop(t *testing.T) {
	t.Helper()
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("weftd stopped with an error: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("weftd did not stop within 20s")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func client(t *testing.T, w *weftd) (*apiclient.Client, *apiclient.ClientConfig) {
	t.Helper()
	cfg, err := clientconfig.Load(w.ep.ClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://" + w.ep.API; cfg.Server != want {
		t.Errorf("client.yaml server = %q, want %q", cfg.Server, want)
	}
	if cfg.XDS != w.ep.XDS {
		t.Errorf("client.yaml xds = %q, want %q", cfg.XDS, w.ep.XDS)
	}
	// The proxies' bootstrap says the same, without the admin token, readable by all.
	boot, err := apiclient.LoadBootstrap(w.ep.ProxyBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg.WithToken(""), boot); diff != "" {
		t.Errorf("proxy-bootstrap.json (-client.yaml without token +got):\n%s", diff)
	}
	if info, err := os.Stat(w.ep.ProxyBootstrap); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("proxy-bootstrap.json: %v, %v; want mode 0644", info, err)
	}
	c, err := apiclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, cfg
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const serviceJSON = `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service",
	"metadata":{"name":"backend","namespace":"shop","labels":{"team":"a"}},
	"spec":{"ports":[{"port":8080,"appProtocol":"http2"}]}}`

func TestRunApplyRestartReadBack(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "weftd")
	first := startWeftd(t, dataDir)
	c, cfg1 := client(t, first)
	ctx := testContext(t)

	resp, err := c.Apply(ctx, &apiclient.ApplyRequest{Resources: []json.RawMessage{json.RawMessage(serviceJSON)}})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Action != "created" {
		t.Fatalf("apply results = %+v, want one created", resp.Results)
	}
	// The xDS server gets a snapshot holding the new Service.
	waitFor(t, "a snapshot with the service", func() bool {
		s := first.xds.latest()
		return s != nil && s.Services[mesh.NamespacedName{Namespace: "shop", Name: "backend"}] != nil
	})

	reg, err := c.RegisterWorkload(ctx, &wire.Workload{
		ID: "backend-1.shop", Service: "backend", Namespace: "shop", ServiceAccount: "backend",
		Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080},
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if want := "spiffe://weft.local/ns/shop/sa/backend"; reg.SPIFFEID != want || reg.LeaseSeconds != 60 {
		t.Errorf("register = %+v, want SPIFFE ID %s and a 60s lease", reg, want)
	}
	waitFor(t, "a snapshot with the workload", func() bool {
		s := first.xds.latest()
		return s != nil && len(s.Workloads) == 1 && s.Workloads[0].ID == "backend-1.shop"
	})
	checkModes(t, dataDir)
	first.stop(t)

	second := startWeftd(t, dataDir)
	c2, cfg2 := client(t, second)
	if cfg2.Token != cfg1.Token || cfg2.CA != cfg1.CA {
		t.Error("the token or the CA changed across a restart")
	}
	raw, err := c2.Get(ctx, "services", "shop", "backend")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	var svc v1alpha1.Service
	if err := json.Unmarshal(raw, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Metadata.Generation != 1 || svc.Metadata.Labels["team"] != "a" || len(svc.Spec.Ports) != 1 ||
		svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].AppProtocol != "http2" {
		t.Errorf("service after restart = %+v", svc)
	}
	resp, err = c2.Apply(ctx, &apiclient.ApplyRequest{Resources: []json.RawMessage{json.RawMessage(serviceJSON)}})
	if err != nil || resp.Results[0].Action != "unchanged" {
		t.Errorf("re-apply after restart = %+v, %v; want unchanged", resp, err)
	}
	workloads, err := c2.Workloads(ctx)
	if err != nil || len(workloads) != 1 || workloads[0].ID != "backend-1.shop" {
		t.Errorf("workloads after restart = %+v, %v; want backend-1.shop", workloads, err)
	}
	if s := second.xds.latest(); s == nil || len(s.Services) != 1 || len(s.Workloads) != 1 {
		t.Errorf("first snapshot after restart = %+v, want the service and the workload", s)
	}
}

func TestRunRefusesUnauthenticatedCalls(t *testing.T) {
	w := startWeftd(t, t.TempDir())
	_, cfg := client(t, w)
	pool, err := cfg.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, path := range []string{"/v1/version", "/metrics", "/v1/workloads"} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + cfg.Token} {
			req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, cfg.Server+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: status %d, want 401", path, auth, resp.StatusCode)
			}
		}
	}
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, cfg.Server+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics with the token: status %d, want 200", resp.StatusCode)
	}
}

// TestXDSRequiresWorkloadCertificate checks that the xDS port accepts a client presenting a
// certificate issued by weftd and refuses one without.
func TestXDSRequiresWorkloadCertificate(t *testing.T) {
	w := startWeftd(t, t.TempDir())
	c, cfg := client(t, w)
	ctx := testContext(t)
	pool, err := cfg.CertPool()
	if err != nil {
		t.Fatal(err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := url.Parse("spiffe://weft.local/ns/shop/sa/frontend")
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id}}, key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := c.SignCertificate(ctx, &apiclient.CertificateRequest{
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
	})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	block, _ := pem.Decode([]byte(signed.CertificateChain))
	workloadCert := tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}

	call := func(certs []tls.Certificate) error {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: certs})
		conn, err := grpc.NewClient(cfg.XDS, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return conn.Invoke(callCtx, "/weft.test.Probe/Ping", &emptypb.Empty{}, &emptypb.Empty{})
	}
	// The fake xDS server registers no service: reaching the server yields Unimplemented.
	if err := call([]tls.Certificate{workloadCert}); status.Code(err) != codes.Unimplemented {
		t.Errorf("call with a workload certificate: %v, want Unimplemented (the TLS handshake succeeded)", err)
	}
	if err := call(nil); status.Code(err) != codes.Unavailable {
		t.Errorf("call without a client certificate: %v, want Unavailable", err)
	}
}

func checkModes(t *testing.T, dataDir string) {
	t.Helper()
	want := map[string]fs.FileMode{
		".":                                  0o700 | fs.ModeDir,
		StoreFile:                            0o600,
		TokenFile:                            0o600,
		ClientConfigFile:                     0o600,
		ServingKeyFile:                       0o600,
		CADir:                                0o700 | fs.ModeDir,
		filepath.Join(CADir, "root-key.pem"): 0o600,
	}
	for name, mode := range want {
		info, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := info.Mode() & (fs.ModePerm | fs.ModeDir); got != mode {
			t.Errorf("%s has mode %v, want %v", name, got, mode)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{DataDir: "/tmp/x", APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir is required"},
		{"bad api addr", func(c *Config) { c.APIAddr = "15080" }, `api addr "15080" is not host:port`},
		{"bad san", func(c *Config) { c.ExtraSANs = []string{"not a name"} }, `san "not a name" is neither`},
		{"negative lease", func(c *Config) { c.LeaseTTL = -time.Second }, "lease ttl -1s is negative"},
		{"tiny lease", func(c *Config) { c.LeaseTTL = time.Millisecond }, "shorter than 1s"},
		{"negative debounce", func(c *Config) { c.Debounce = -1 }, "debounce -1ns is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
