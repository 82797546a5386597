package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/wire"
)

func TestSidecarLifecycle(t *testing.T) {
	h := newHarness(t)
	h.cfg.DrainGrace = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.start(ctx)
	admin := "http://" + h.adminAddr()

	eventually(t, "GET /ready to answer 200", func() bool {
		code, _ := get(t, http.MethodGet, admin+"/ready")
		return code == http.StatusOK
	})

	// The registration: who the workload is, its app ports (sorted), its admin address.
	h.weftd.mu.Lock()
	got := h.weftd.registered[0]
	csr := h.weftd.csrs[0]
	csrID := h.weftd.csrIDs[0]
	h.weftd.mu.Unlock()
	want := wire.Workload{
		ID: "web-abc123.default", Service: "web", Namespace: "default", ServiceAccount: "web", Version: "v2",
		Labels: map[string]string{"tier": "front"}, Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080, 9090},
		AdminAddress: got.AdminAddress,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("registered workload (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.AdminAddress, "127.0.0.1:") || got.AdminAddress == "127.0.0.1:0" {
		t.Errorf("registered admin address %q, want the bound loopback address", got.AdminAddress)
	}
	// The certificate is for the SPIFFE ID weftd returned, recorded on the workload.
	if csrID != "spiffe://test.example/ns/default/sa/web" || csr.WorkloadID != "web-abc123.default" {
		t.Errorf("CSR for %q with workload %q, want weftd's SPIFFE ID and the workload ID", csrID, csr.WorkloadID)
	}

	// The xDS client: node, metadata and mutual TLS to weftd.
	xc := h.xds.cfg
	wantMeta := wire.ProxyMeta{
		Mode: wire.ModeSidecar, WorkloadID: "web-abc123.default", Service: "web", Namespace: "default", ServiceAccount: "web",
		Address: "127.0.0.1", InboundPort: 15006, Apps: h.cfg.Apps, Upstreams: h.cfg.Upstreams, Version: "v0.0.0-test",
	}
	if diff := cmp.Diff(wantMeta, xc.Meta); diff != "" {
		t.Errorf("xDS node metadata (-want +got):\n%s", diff)
	}
	if xc.NodeID != "web-abc123.default" || xc.Address != "localhost:15010" {
		t.Errorf("xDS node %q at %q, want web-abc123.default at localhost:15010", xc.NodeID, xc.Address)
	}
	if xc.TLS == nil || xc.TLS.ServerName != "localhost" || xc.TLS.RootCAs == nil || xc.TLS.MinVersion < tls.VersionTLS12 {
		t.Fatalf("xDS TLS = %+v, want ServerName localhost, weftd's CA and TLS 1.2+", xc.TLS)
	}
	cert, err := xc.TLS.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil || cert.Leaf == nil || cert.Leaf.URIs[0].String() != "spiffe://test.example/ns/default/sa/web" {
		t.Fatalf("xDS client certificate = %v, %v; want the workload certificate", cert, err)
	}
	if h.dp.certs.Certificate() != cert {
		t.Error("the data plane is not given the workload certificate")
	}

	// Admin endpoints reflect the running proxy.
	code, body := get(t, http.MethodGet, admin+"/config_dump")
	var dump struct {
		Version  string
		Identity struct{ SPIFFEID, SerialNumber string }
		XDS      map[string]any
		Config   struct{ Version string }
	}
	if err := json.Unmarshal([]byte(body), &dump); code != http.StatusOK || err != nil {
		t.Fatalf("GET /config_dump = %d %v: %s", code, err, body)
	}
	if dump.Version != "v0.0.0-test" || dump.Identity.SPIFFEID != "spiffe://test.example/ns/default/sa/web" ||
		dump.Identity.SerialNumber != cert.Leaf.SerialNumber.Text(16) || dump.Config.Version != "v1" || dump.XDS["fake"] != true {
		t.Errorf("config dump = %+v", dump)
	}
	code, body = get(t, http.MethodGet, admin+"/stats/prometheus")
	for _, want := range []string{"weft_proxy_ready 1", "go_goroutines", `weft_proxy_info{mode="sidecar",version="v0.0.0-test"} 1`,
		"weft_proxy_certificate_expiry_timestamp_seconds "} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /stats/prometheus = %d, missing %q", code, want)
		}
	}

	// The lease is renewed (every third of the 1s lease).
	eventually(t, "two lease renewals", func() bool { return h.ev.count("renew") >= 2 })

	// SIGTERM: not ready, deregistered, grace while serving, drained, xDS stopped, exit 0.
	cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	dereg, ok1 := h.ev.find("deregister")
	drain, ok2 := h.ev.find("drain")
	stopped, ok3 := h.ev.find("xds-stopped")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("shutdown events: %s; want deregister, drain, xds-stopped", h.ev)
	}
	if !dereg.at.Before(drain.at) || !drain.at.Before(stopped.at) && !drain.at.Equal(stopped.at) {
		t.Errorf("shutdown order: %s; want deregister, then drain, then xds-stopped", h.ev)
	}
	if gap := drain.at.Sub(dereg.at); gap < h.cfg.DrainGrace {
		t.Errorf("drained %s after deregistering, want at least the grace %s", gap, h.cfg.DrainGrace)
	}
	if _, bad := h.ev.find("drain-without-deadline"); bad {
		t.Error("the data plane was drained without the drain timeout")
	}
	h.weftd.mu.Lock()
	readyAtDereg := h.weftd.readyAtDereg
	_, stillRegistered := h.weftd.workloads["web-abc123.default"]
	h.weftd.mu.Unlock()
	if !strings.HasPrefix(readyAtDereg, "503") || !strings.Contains(readyAtDereg, "draining") {
		t.Errorf("GET /ready while deregistering = %q, want 503 draining", readyAtDereg)
	}
	if stillRegistered {
		t.Error("the workload is still registered after the drain")
	}
	if n := h.ev.count("register"); n != 1 {
		t.Errorf("registered %d times, want 1 (no re-registration after deregistering)", n)
	}
	if code, _ := get(t, http.MethodGet, admin+"/ready"); code != 0 {
		t.Errorf("the admin server still answers (%d) after run returned", code)
	}
	logs := h.logs.String()
	for _, want := range []string{"admin server listening", "workload registered", "first configuration applied", "draining"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "PRIVATE") || strings.Contains(logs, "test-token") {
		t.Errorf("the log shows a secret:\n%s", logs)
	}
}

func TestDrainEndpoint(t *testing.T) {
	h := newHarness(t)
	h.start(t.Context())
	admin := "http://" + h.adminAddr()
	eventually(t, "ready", func() bool { code, _ := get(t, http.MethodGet, admin+"/ready"); return code == http.StatusOK })

	if code, body := get(t, http.MethodPost, admin+"/drain"); code != http.StatusAccepted {
		t.Fatalf("POST /drain = %d %s", code, body)
	}
	if err := h.wait(); err != nil {
		t.Fatalf("run after POST /drain = %v, want nil", err)
	}
	for _, want := range []string{"deregister", "drain", "xds-stopped", "close"} {
		if _, ok := h.ev.find(want); !ok {
			t.Errorf("no %s after POST /drain; events: %s", want, h.ev)
		}
	}
}

func TestWeftdOutages(t *testing.T) {
	h := newHarness(t)
	// weftd is not up yet: the first registrations fail.
	h.weftd.set(func(f *fakeWeftd) { f.registerFail = []int{503, 502, 503} })
	h.start(t.Context())
	admin := "http://" + h.adminAddr()
	eventually(t, "ready", func() bool { code, _ := get(t, http.MethodGet, admin+"/ready"); return code == http.StatusOK })
	if n := h.ev.count("register-failed"); n != 3 {
		t.Errorf("%d failed registrations before success, want 3", n)
	}

	// weftd goes away: renewals fail, the proxy keeps serving and stays ready.
	h.weftd.set(func(f *fakeWeftd) { f.renewStatus = http.StatusServiceUnavailable })
	eventually(t, "failed renewals", func() bool { return h.ev.count("renew-failed") >= 3 })
	if code, body := get(t, http.MethodGet, admin+"/ready"); code != http.StatusOK {
		t.Errorf("GET /ready during an outage = %d %s, want 200: the proxy keeps serving", code, body)
	}
	_, body := get(t, http.MethodGet, admin+"/stats/prometheus")
	if !strings.Contains(body, "weft_proxy_lease_renewal_failures_total") || strings.Contains(body, "weft_proxy_lease_renewal_failures_total 0\n") {
		t.Error("lease renewal failures are not counted")
	}

	// weftd comes back without its registry: the proxy registers again.
	h.weftd.set(func(f *fakeWeftd) {
		f.renewStatus = 0
		clear(f.workloads)
	})
	eventually(t, "a re-registration", func() bool { return h.ev.count("register") >= 2 })
	eventually(t, "renewals after re-registering", func() bool {
		ev, ok := h.ev.find("renew-unknown")
		if !ok {
			return false
		}
		h.ev.mu.Lock()
		defer h.ev.mu.Unlock()
		last := h.ev.log[len(h.ev.log)-1]
		return last.what == "renew" && last.at.After(ev.at)
	})

	select {
	case err := <-h.done:
		t.Fatalf("the agent stopped during weftd's outage: %v", err)
	default:
	}
	for _, bad := range []string{"drain", "close"} {
		if _, ok := h.ev.find(bad); ok {
			t.Errorf("the data plane saw %q during an outage", bad)
		}
	}
	if h.dp.nils != 0 || h.ev.count("apply") != 1 {
		t.Errorf("the config changed during an outage (applies: %d, nil applies: %d)", h.ev.count("apply"), h.dp.nils)
	}
}

func TestRegistrationRefused(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   string
	}{
		{"invalid workload", http.StatusUnprocessableEntity, "refused to register"},
		{"bad token", http.StatusUnauthorized, "refused to register"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.weftd.set(func(f *fakeWeftd) { f.registerFail = []int{tt.status} })
			h.start(t.Context())
			err := h.wait()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "fake weftd refuses") {
				t.Fatalf("run = %v, want an error containing %q and weftd's message", err, tt.want)
			}
			if _, ok := h.ev.find("sign"); ok {
				t.Error("a certificate was requested for an unregistered workload")
			}
		})
	}
}

func TestStopWhileWaitingForWeftd(t *testing.T) {
	h := newHarness(t)
	fails := make([]int, 1000)
	for i := range fails {
		fails[i] = http.StatusServiceUnavailable
	}
	h.weftd.set(func(f *fakeWeftd) { f.registerFail = fails })
	ctx, cancel := context.WithCancel(t.Context())
	h.start(ctx)
	eventually(t, "failed registrations", func() bool { return h.ev.count("register-failed") >= 2 })
	cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("run stopped while waiting for weftd = %v, want nil", err)
	}
	for _, bad := range []string{"deregister", "drain", "xds-start"} {
		if _, ok := h.ev.find(bad); ok {
			t.Errorf("unexpected %s; events: %s", bad, h.ev)
		}
	}
}

func TestGateway(t *testing.T) {
	h := newHarness(t)
	h.cfg.Mode = wire.ModeGateway
	h.cfg.Gateway = "ingress"
	h.cfg.Namespace = "edge"
	h.cfg.Service, h.cfg.Apps, h.cfg.Upstreams, h.cfg.Version, h.cfg.Labels = "", nil, nil, "", nil
	h.cfg.TrustDomain = "corp.example" // not the mesh's: weftd's answer wins
	h.cfg.ID = "ingress-1.edge"
	h.weftd.spiffeID = "spiffe://test.example/ns/edge/sa/ingress"
	ctx, cancel := context.WithCancel(t.Context())
	h.start(ctx)
	eventually(t, "the first config", func() bool { return h.ev.count("apply") == 1 })

	h.weftd.mu.Lock()
	csr, csrID, registered := h.weftd.csrs[0], h.weftd.csrIDs[0], slices.Clone(h.weftd.registered)
	h.weftd.mu.Unlock()
	// Registered as a gateway (so that weftd tracks its certificate), never as a service.
	if len(registered) != 1 || !registered[0].Gateway || registered[0].Service != "ingress" || registered[0].InboundPort != 0 ||
		registered[0].ID != "ingress-1.edge" || registered[0].Namespace != "edge" || registered[0].ServiceAccount != "ingress" {
		t.Errorf("gateway registrations = %+v, want one gateway registration for ingress", registered)
	}
	if csrID != "spiffe://test.example/ns/edge/sa/ingress" || csr.WorkloadID != "ingress-1.edge" {
		t.Errorf("gateway CSR for %q (workload %q), want weftd's spiffe://test.example/ns/edge/sa/ingress for workload ingress-1.edge", csrID, csr.WorkloadID)
	}
	want := wire.ProxyMeta{Mode: wire.ModeGateway, WorkloadID: "ingress-1.edge", Namespace: "edge", ServiceAccount: "ingress",
		Address: "127.0.0.1", Gateway: "ingress", Version: "v0.0.0-test"}
	if diff := cmp.Diff(want, h.xds.cfg.Meta); diff != "" {
		t.Errorf("gateway node metadata (-want +got):\n%s", diff)
	}
	cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("run = %v", err)
	}
	if _, ok := h.ev.find("deregister"); !ok {
		t.Errorf("the gateway did not deregister when draining; events: %s", h.ev)
	}
	if _, ok := h.ev.find("drain"); !ok {
		t.Errorf("the gateway did not drain; events: %s", h.ev)
	}
}

func TestXDSClientFailure(t *testing.T) {
	h := newHarness(t)
	h.xds.runErr = errors.New("xds client: node ID refused")
	h.start(t.Context())
	err := h.wait()
	if err == nil || !strings.Contains(err.Error(), "node ID refused") {
		t.Fatalf("run = %v, want the xDS client's error", err)
	}
	if _, ok := h.ev.find("deregister"); !ok {
		t.Errorf("the workload was not deregistered; events: %s", h.ev)
	}
}

func TestInvalidConfig(t *testing.T) {
	h := newHarness(t)
	h.cfg.AdminAddr = "0.0.0.0:15000"
	h.cfg.Apps = append(h.cfg.Apps, h.cfg.Apps[0])
	h.start(t.Context())
	err := h.wait()
	if err == nil || !strings.Contains(err.Error(), "must be on loopback") || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("run = %v, want both configuration errors", err)
	}
	if h.ev.String() != "" {
		t.Errorf("an invalid config reached weftd: %s", h.ev)
	}
}
