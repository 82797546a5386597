package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane"
	"github.com/weftmesh/weft/internal/proxy/xdsclient"
	"github.com/weftmesh/weft/internal/wire"
)

// events is an ordered, timestamped log of what the fakes saw.
type events struct {
	mu  sync.Mutex
	log []event
}

type event struct {
	what string
	at   time.Time
}

func (e *events) add(what string) {
	e.mu.Lock()
	e.log = append(e.log, event{what, time.Now()})
	e.mu.Unlock()
}

// find returns the first event named what.
func (e *events) find(what string) (event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.log {
		if ev.what == what {
			return ev, true
		}
	}
	return event{}, false
}

func (e *events) count(what string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.log {
		if ev.what == what {
			n++
		}
	}
	return n
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for _, ev := range e.log {
		names = append(names, ev.what)
	}
	return strings.Join(names, ", ")
}

// fakeWeftd is weftd's API as the proxy sees it: registry, leases and a CA.
type fakeWeftd struct {
	t      *testing.T
	ev     *events
	srv    *httptest.Server
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	caPEM  string

	mu           sync.Mutex
	registerFail []int // statuses answered to the next registrations, then 200
	renewStatus  int   // when non-zero, answered to renewals
	renewCert    bool  // lease answers ask the proxy to renew its certificate
	leaseSeconds int
	spiffeID     string // answered to registrations
	workloads    map[string]wire.Workload
	registered   []wire.Workload
	csrs         []apiclient.CertificateRequest
	csrIDs       []string
	readyAtDereg string // GET /ready of the proxy when it deregistered
}

func newFakeWeftd(t *testing.T, ev *events) *fakeWeftd {
	t.Helper()
	f := &fakeWeftd{t: t, ev: ev, leaseSeconds: 1, spiffeID: "spiffe://test.example/ns/default/sa/web", workloads: map[string]wire.Workload{}}
	f.newCA()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/workloads", f.register)
	mux.HandleFunc("PUT /v1/workloads/{id}/lease", f.renew)
	mux.HandleFunc("DELETE /v1/workloads/{id}", f.deregister)
	mux.HandleFunc("POST /v1/certificates", f.sign)
	f.srv = httptest.NewTLSServer(mux)
	f.srv.Config.ErrorLog = nil
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeftd) clientConfig() *apiclient.ClientConfig {
	return &apiclient.ClientConfig{
		Server: f.srv.URL,
		XDS:    "localhost:15010",
		Token:  "test-token",
		CA:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})),
	}
}

func (f *fakeWeftd) newCA() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake weftd root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	f.caKey = key
	f.caCert, _ = x509.ParseCertificate(der)
	f.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeWeftd) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer test-token" {
		writeJSON(w, http.StatusUnauthorized, apiclient.Error{Message: "unauthorized"})
		return false
	}
	return true
}

func (f *fakeWeftd) register(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var wl wire.Workload
	if err := json.NewDecoder(r.Body).Decode(&wl); err != nil {
		writeJSON(w, http.StatusBadRequest, apiclient.Error{Message: err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.registerFail) > 0 {
		status := f.registerFail[0]
		f.registerFail = f.registerFail[1:]
		f.ev.add("register-failed")
		writeJSON(w, status, apiclient.Error{Message: "fake weftd refuses the registration"})
		return
	}
	f.ev.add("register")
	f.workloads[wl.ID] = wl
	f.registered = append(f.registered, wl)
	writeJSON(w, http.StatusOK, apiclient.RegisterResponse{ID: wl.ID, LeaseSeconds: f.leaseSeconds, SPIFFEID: f.spiffeID})
}

func (f *fakeWeftd) renew(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewStatus != 0 {
		f.ev.add("renew-failed")
		writeJSON(w, f.renewStatus, apiclient.Error{Message: "fake weftd is unavailable"})
		return
	}
	if _, ok := f.workloads[r.PathValue("id")]; !ok {
		f.ev.add("renew-unknown")
		writeJSON(w, http.StatusNotFound, apiclient.Error{Message: "no such workload"})
		return
	}
	f.ev.add("renew")
	if f.renewCert {
		writeJSON(w, http.StatusOK, apiclient.RegisterResponse{ID: r.PathValue("id"), LeaseSeconds: f.leaseSeconds, RenewCertificate: true})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeWeftd) deregister(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	id := r.PathValue("id")
	f.mu.Lock()
	wl, ok := f.workloads[id]
	delete(f.workloads, id)
	f.mu.Unlock()
	f.ev.add("deregister")
	if !ok {
		writeJSON(w, http.StatusNotFound, apiclient.Error{Message: "no such workload"})
		return
	}
	// What does the proxy's readiness say while it deregisters?
	ready := "unreachable"
	if resp, err := http.Get("http://" + wl.AdminAddress + "/ready"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ready = resp.Status + " " + strings.TrimSpace(string(body))
	}
	f.mu.Lock()
	f.readyAtDereg = ready
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeWeftd) sign(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var req apiclient.CertificateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiclient.Error{Message: err.Error()})
		return
	}
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil {
		writeJSON(w, http.StatusBadRequest, apiclient.Error{Message: "csr is not PEM"})
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil || len(csr.URIs) != 1 {
		writeJSON(w, http.StatusBadRequest, apiclient.Error{Message: "bad csr"})
		return
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Hour), URIs: csr.URIs, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, csr.PublicKey, f.caKey)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiclient.Error{Message: err.Error()})
		return
	}
	f.mu.Lock()
	f.csrs = append(f.csrs, req)
	f.csrIDs = append(f.csrIDs, csr.URIs[0].String())
	f.mu.Unlock()
	f.ev.add("sign")
	writeJSON(w, http.StatusOK, apiclient.CertificateResponse{
		CertificateChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		TrustBundle:      f.caPEM,
	})
}

func (f *fakeWeftd) set(fn func(f *fakeWeftd)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// fakeDataPlane records what the agent does with the data plane.
type fakeDataPlane struct {
	ev    *events
	certs dataplane.CertSource
	mu    sync.Mutex
	cur   *config.Config
	nils  int
}

func (d *fakeDataPlane) Apply(c *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c == nil {
		d.nils++
		return errors.New("nil config")
	}
	d.cur = c
	d.ev.add("apply")
	return nil
}

func (d *fakeDataPlane) Current() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

func (d *fakeDataPlane) Drain(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		d.ev.add("drain-without-deadline")
	}
	d.ev.add("drain")
	return nil
}

func (d *fakeDataPlane) Close() error { d.ev.add("close"); return nil }

// fakeXDS applies one config, then waits for its context; runErr, when set, makes it return
// that error right after applying instead.
type fakeXDS struct {
	ev     *events
	cfg    xdsclient.Config
	config *config.Config
	runErr error
}

func (x *fakeXDS) Run(ctx context.Context, apply func(*config.Config) error) error {
	x.ev.add("xds-start")
	if err := apply(x.config); err != nil {
		return err
	}
	if x.runErr != nil {
		x.ev.add("xds-failed")
		return x.runErr
	}
	<-ctx.Done()
	x.ev.add("xds-stopped")
	return ctx.Err()
}

func (x *fakeXDS) Status() any { return map[string]any{"connected": true, "fake": true} }

// harness runs the agent against the fakes.
type harness struct {
	t     *testing.T
	ev    *events
	weftd *fakeWeftd
	dp    *fakeDataPlane
	xds   *fakeXDS
	cfg   Config
	logs  *lockedBuffer
	done  chan error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ev := &events{}
	h := &harness{t: t, ev: ev, weftd: newFakeWeftd(t, ev), dp: &fakeDataPlane{ev: ev}, logs: &lockedBuffer{}}
	h.xds = &fakeXDS{ev: ev, config: &config.Config{
		Version: "v1",
		Listeners: map[string]*config.Listener{
			"inbound": {Name: "inbound", Address: "127.0.0.1:15006"},
		},
	}}
	h.cfg = Config{
		Mode:         wire.ModeSidecar,
		ClientConfig: h.weftd.clientConfig(),
		ID:           "web-abc123.default",
		Service:      "web",
		Version:      "v2",
		Labels:       map[string]string{"tier": "front"},
		InboundPort:  15006,
		Apps:         []wire.AppPort{{Port: 9090, Target: "127.0.0.1:19090"}, {Port: 8080, Target: "127.0.0.1:18080"}},
		Upstreams:    []wire.Upstream{{Service: "api", Namespace: "default", Port: 8080, LocalPort: 15101}},
		AdminAddr:    "127.0.0.1:0",
		DrainGrace:   time.Millisecond,
		DrainTimeout: 5 * time.Second,
		BuildVersion: "v0.0.0-test",
	}
	return h
}

func (h *harness) deps() deps {
	return deps{
		newDataPlane: func(c dataplane.Config) (dataPlane, error) {
			h.dp.certs = c.Certs
			return h.dp, nil
		},
		newXDS: func(c xdsclient.Config, _ *slog.Logger) (xdsClient, error) {
			h.xds.cfg = c
			return h.xds, nil
		},
		retryMin:    10 * time.Millisecond,
		retryMax:    50 * time.Millisecond,
		callTimeout: 5 * time.Second,
	}
}

// start runs the agent in the background; the test's end cancels it if still running.
func (h *harness) start(ctx context.Context) {
	h.done = make(chan error, 1)
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { h.done <- run(ctx, h.cfg, log, h.deps()) }()
}

// wait returns run's result, failing the test if it takes too long.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatalf("the agent did not stop; events: %s", h.ev)
		return nil
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// adminAddr is the admin address the proxy registered (sidecar mode).
func (h *harness) adminAddr() string {
	h.t.Helper()
	var addr string
	eventually(h.t, "the workload registration", func() bool {
		h.weftd.mu.Lock()
		defer h.weftd.mu.Unlock()
		if len(h.weftd.registered) > 0 {
			addr = h.weftd.registered[0].AdminAddress
		}
		return addr != ""
	})
	return addr
}

// get fetches an admin endpoint.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
