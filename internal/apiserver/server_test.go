package apiserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/wire"
)

const token = "0123456789abcdef0123456789abcdef"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	srv  *httptest.Server
	reg  *registry.Registry
	st   *store.Bolt
	logs *syncBuffer
}

type denyAll struct{}

func (denyAll) AuthorizeCSR(*http.Request, mesh.SPIFFEID, *wire.Workload) error {
	return errors.New("no join token")
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(store.BoltConfig{Path: filepath.Join(dir, "store.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg, err := registry.Open(registry.Config{TTL: 30 * time.Second, TrustDomain: func() string {
		res, err := st.Get(t.Context(), mesh.Key{Kind: mesh.KindMesh, Name: mesh.MeshName})
		if err != nil {
			return "weft.local"
		}
		return mesh.MeshFrom(res).Spec.TrustDomain
	}}, st.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.LoadOrCreateBuiltin(ca.BuiltinConfig{Dir: filepath.Join(dir, "ca")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	cfg := Config{
		Token: token, Store: st, Registry: reg, Authority: authority, Version: "v-test",
		Metrics: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}), Registerer: metrics,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	api, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, reg: reg, st: st, logs: logs}
}

// call sends a request with the token and returns the status and the body.
func (f *fixture) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return f.callWith(t, method, path, body, "Bearer "+token)
}

func (f *fixture) callWith(t *testing.T, method, path string, body any, auth string) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

const (
	backendSvc = `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"backend","namespace":"shop"},"spec":{"ports":[{"port":8080}]}}`
	routeToSvc = `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r","namespace":"shop"},
		"spec":{"parentRefs":[{"kind":"Service","name":"backend"}],"rules":[{"backendRefs":[{"name":"backend","port":8080}]}]}}`
)

func applyReq(dryRun bool, docs ...string) apiclient.ApplyRequest {
	req := apiclient.ApplyRequest{DryRun: dryRun}
	for i, d := range docs {
		req.Resources = append(req.Resources, json.RawMessage(d))
		req.Sources = append(req.Sources, "file.yaml#"+string(rune('0'+i)))
	}
	return req
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	for _, auth := range []string{"", "Bearer", "Bearer " + token + "x", "Bearer " + token[:10], "Basic " + token, token} {
		status, body := f.callWith(t, http.MethodGet, "/v1/version", nil, auth)
		if status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, status)
		}
		if e := decode[apiclient.Error](t, body); e.Message != "missing or wrong bearer token" {
			t.Errorf("Authorization %q: body %s", auth, body)
		}
	}
	for _, auth := range []string{"Bearer " + token, "bearer " + token} {
		status, body := f.callWith(t, http.MethodGet, "/v1/version", nil, auth)
		if status != http.StatusOK || decode[apiclient.VersionInfo](t, body).Version != "v-test" {
			t.Errorf("Authorization %q: %d %s", auth, status, body)
		}
	}
	if status, _ := f.call(t, http.MethodGet, "/metrics", nil); status != http.StatusOK {
		t.Errorf("GET /metrics: %d", status)
	}
	if status, _ := f.callWith(t, http.MethodGet, "/metrics", nil, ""); status != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", status)
	}
	if strings.Contains(f.logs.String(), token) {
		t.Error("the token appears in the log")
	}
}

func TestApply(t *testing.T) {
	f := newFixture(t, nil)

	// A dry run validates and reports, but stores nothing.
	status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(true, backendSvc, routeToSvc))
	if status != http.StatusOK {
		t.Fatalf("dry run: %d %s", status, body)
	}
	if status, _ := f.call(t, http.MethodGet, "/v1/resources/services/shop/backend", nil); status != http.StatusNotFound {
		t.Errorf("after a dry run the service exists (status %d)", status)
	}

	status, body = f.call(t, http.MethodPost, "/v1/apply", applyReq(false, backendSvc, routeToSvc))
	if status != http.StatusOK {
		t.Fatalf("apply: %d %s", status, body)
	}
	want := apiclient.ApplyResponse{Results: []apiclient.ApplyResult{
		{Kind: "Service", Namespace: "shop", Name: "backend", Action: "created"},
		{Kind: "HTTPRoute", Namespace: "shop", Name: "r", Action: "created"},
	}}
	if diff := cmp.Diff(want, decode[apiclient.ApplyResponse](t, body)); diff != "" {
		t.Errorf("apply answer (-want +got):\n%s", diff)
	}
	status, body = f.call(t, http.MethodPost, "/v1/apply", applyReq(false, backendSvc))
	if status != http.StatusOK || decode[apiclient.ApplyResponse](t, body).Results[0].Action != "unchanged" {
		t.Errorf("re-apply: %d %s", status, body)
	}
}

func TestApplyRefusals(t *testing.T) {
	f := newFixture(t, nil)
	route2 := strings.Replace(strings.Replace(routeToSvc, `"name":"r"`, `"name":"r2"`, 1), `"port":8080`, `"port":8080,"weight":2000000`, 1)
	tests := []struct {
		name        string
		body        any
		wantStatus  int
		wantMessage string
		wantDetails []apiclient.ErrorDetail
	}{
		{name: "route to a missing service", body: applyReq(false, routeToSvc), wantStatus: 422,
			wantMessage: "refused: 2 problems found; nothing was applied",
			wantDetails: []apiclient.ErrorDetail{
				{Index: 0, Source: "file.yaml#0", Kind: "HTTPRoute", Namespace: "shop", Name: "r", Field: "spec.parentRefs[0].name", Message: "Service shop/backend does not exist"},
				{Index: 0, Source: "file.yaml#0", Kind: "HTTPRoute", Namespace: "shop", Name: "r", Field: "spec.rules[0].backendRefs[0].name", Message: "Service shop/backend does not exist"},
			}},
		{name: "one bad resource refuses the batch", body: applyReq(false, backendSvc, route2), wantStatus: 422,
			wantMessage: "refused: 1 problem found; nothing was applied",
			wantDetails: []apiclient.ErrorDetail{
				{Index: 1, Source: "file.yaml#1", Kind: "HTTPRoute", Namespace: "shop", Name: "r2", Field: "spec.rules[0].backendRefs[0].weight", Message: "2000000 is out of range 0-1000000"},
			}},
		{name: "decode errors name index and source", body: applyReq(false, backendSvc, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`, `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"x"},"spec":{"portz":[]}}`),
			wantStatus: 422, wantMessage: "refused: 2 problems found; nothing was applied",
			wantDetails: []apiclient.ErrorDetail{
				{Index: 1, Source: "file.yaml#1", Kind: "Pod", Name: "p", Field: "apiVersion", Message: `"v1" is not supported; supported: ` + mesh.SupportedKinds()},
				{Index: 2, Source: "file.yaml#2", Kind: "Service", Namespace: "default", Name: "x", Message: `unknown field "portz"`},
			}},
		{name: "no resources", body: apiclient.ApplyRequest{}, wantStatus: 400, wantMessage: "the request holds no resources"},
		{name: "unknown request field", body: `{"resources":[],"force":true}`, wantStatus: 400, wantMessage: `invalid request body: json: unknown field "force"`},
		{name: "not JSON", body: `resources: []`, wantStatus: 400, wantMessage: "invalid request body: invalid character 'r' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, http.MethodPost, "/v1/apply", tt.body)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s)", status, tt.wantStatus, body)
			}
			want := apiclient.Error{Message: tt.wantMessage, Details: tt.wantDetails}
			if diff := cmp.Diff(want, decode[apiclient.Error](t, body)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
	items, err := f.st.List(t.Context(), "", "")
	if err != nil || len(items) != 0 {
		t.Errorf("refused applies stored %d resources (%v)", len(items), err)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := applyReq(false, `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a","annotations":{"x":"`+strings.Repeat("y", 2000)+`"}},"spec":{"ports":[{"port":1}]}}`)
	status, body := f.call(t, http.MethodPost, "/v1/apply", big)
	if status != http.StatusRequestEntityTooLarge || decode[apiclient.Error](t, body).Message != "request body is larger than 1024 bytes" {
		t.Errorf("oversized body: %d %s", status, body)
	}
}

func TestGetListDelete(t *testing.T) {
	f := newFixture(t, nil)
	meshDoc := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"trustDomain":"example.org"}}`
	other := strings.Replace(backendSvc, `"namespace":"shop"`, `"namespace":"other"`, 1)
	if status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(false, backendSvc, other, routeToSvc, meshDoc)); status != 200 {
		t.Fatalf("apply: %d %s", status, body)
	}

	for _, path := range []string{"/v1/resources/services/shop/backend", "/v1/resources/service/shop/backend", "/v1/resources/svc/shop/backend", "/v1/resources/Service/shop/backend"} {
		status, body := f.call(t, http.MethodGet, path, nil)
		if status != 200 {
			t.Errorf("GET %s: %d %s", path, status, body)
			continue
		}
		got := decode[map[string]any](t, body)
		meta := got["metadata"].(map[string]any)
		if got["kind"] != "Service" || meta["name"] != "backend" || meta["generation"] != float64(1) || meta["resourceVersion"] != "1" || meta["creationTimestamp"] == nil {
			t.Errorf("GET %s = %s", path, body)
		}
	}
	var plurals []string
	for _, k := range mesh.Kinds() {
		plurals = append(plurals, k.Plural)
	}
	getTests := []struct {
		path    string
		status  int
		message string
	}{
		{"/v1/resources/meshes/-/default", 200, ""},
		{"/v1/resources/meshes/default/default", 400, `Mesh is cluster-scoped: use "-" as the namespace`},
		{"/v1/resources/services/-/backend", 400, "Service is namespaced: name a namespace"},
		{"/v1/resources/pods/shop/backend", 404, `unknown kind "pods"; supported: [` + strings.Join(plurals, " ") + `]`},
		{"/v1/resources/services/shop/ghost", 404, "Service shop/ghost not found"},
		{"/v2/things", 404, "no such call: GET /v2/things"},
	}
	for _, tt := range getTests {
		status, body := f.call(t, http.MethodGet, tt.path, nil)
		if status != tt.status || (tt.message != "" && decode[apiclient.Error](t, body).Message != tt.message) {
			t.Errorf("GET %s: %d %s; want %d %q", tt.path, status, body, tt.status, tt.message)
		}
	}

	listTests := []struct {
		path string
		want int
	}{
		{"/v1/resources/services", 2},
		{"/v1/resources/services?namespace=shop", 1},
		{"/v1/resources/services?namespace=none", 0},
		{"/v1/resources/httproutes", 1},
		{"/v1/resources/gateways", 0},
		{"/v1/resources/meshes?namespace=shop", 1},
	}
	for _, tt := range listTests {
		status, body := f.call(t, http.MethodGet, tt.path, nil)
		list := decode[apiclient.ResourceList](t, body)
		if status != 200 || len(list.Items) != tt.want || list.Items == nil {
			t.Errorf("GET %s: %d %s; want %d items", tt.path, status, body, tt.want)
		}
	}

	// A Service a route uses cannot be deleted; the error names the route.
	status, body := f.call(t, http.MethodDelete, "/v1/resources/services/shop/backend", nil)
	wantErr := apiclient.Error{
		Message: "refused: Service shop/backend is in use; nothing was deleted",
		Details: []apiclient.ErrorDetail{
			{Kind: "Service", Namespace: "shop", Name: "backend", Message: "is used by HTTPRoute shop/r (spec.parentRefs[0]); delete or change the route first"},
			{Kind: "Service", Namespace: "shop", Name: "backend", Message: "is used by HTTPRoute shop/r (spec.rules[0].backendRefs[0]); delete or change the route first"},
		},
	}
	if diff := cmp.Diff(wantErr, decode[apiclient.Error](t, body)); status != http.StatusConflict || diff != "" {
		t.Errorf("deleting a used service: %d (-want +got):\n%s", status, diff)
	}
	for _, path := range []string{"/v1/resources/httproutes/shop/r", "/v1/resources/services/shop/backend"} {
		if status, body := f.call(t, http.MethodDelete, path, nil); status != 200 {
			t.Errorf("DELETE %s: %d %s", path, status, body)
		}
	}
	if status, _ := f.call(t, http.MethodDelete, "/v1/resources/services/shop/backend", nil); status != 404 {
		t.Errorf("deleting twice: %d, want 404", status)
	}
}

func newCSR(t *testing.T, id string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestWorkloadsAndCertificates(t *testing.T) {
	f := newFixture(t, nil)
	w := wire.Workload{ID: "backend-1.shop", Service: "backend", Namespace: "shop", ServiceAccount: "backend",
		Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080}}
	status, body := f.call(t, http.MethodPost, "/v1/workloads", w)
	want := apiclient.RegisterResponse{ID: w.ID, LeaseSeconds: 30, SPIFFEID: "spiffe://weft.local/ns/shop/sa/backend"}
	if diff := cmp.Diff(want, decode[apiclient.RegisterResponse](t, body)); status != 200 || diff != "" {
		t.Errorf("register: %d (-want +got):\n%s", status, diff)
	}
	bad := w
	bad.Address = "not-an-ip"
	if status, body := f.call(t, http.MethodPost, "/v1/workloads", bad); status != 400 ||
		decode[apiclient.Error](t, body).Message != `invalid workload: workload backend-1.shop: address "not-an-ip" is not an IP address` {
		t.Errorf("invalid registration: %d %s", status, body)
	}
	if status, body := f.call(t, http.MethodPut, "/v1/workloads/backend-1.shop/lease", nil); status != 200 ||
		decode[apiclient.RegisterResponse](t, body).LeaseSeconds != 30 {
		t.Errorf("renew: %d %s", status, body)
	}
	if status, _ := f.call(t, http.MethodPut, "/v1/workloads/ghost/lease", nil); status != 404 {
		t.Errorf("renewing an unknown workload: %d, want 404", status)
	}

	certTests := []struct {
		name    string
		req     apiclient.CertificateRequest
		status  int
		message string
	}{
		{"for the workload", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/backend"), WorkloadID: w.ID}, 200, ""},
		{"without a workload", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/other")}, 200, ""},
		{"another identity than the workload's", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/admin"), WorkloadID: w.ID}, 403,
			"workload backend-1.shop has the identity spiffe://weft.local/ns/shop/sa/backend; the request asks for spiffe://weft.local/ns/shop/sa/admin"},
		{"an unknown workload", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/backend"), WorkloadID: "ghost"}, 404, "workload ghost is not registered"},
		{"another trust domain", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://evil.org/ns/shop/sa/backend")}, 400,
			`invalid certificate request: SPIFFE ID spiffe://evil.org/ns/shop/sa/backend is not in the mesh's trust domain "weft.local"`},
		{"no CSR", apiclient.CertificateRequest{}, 400, "invalid certificate request: no PEM block found"},
	}
	for _, tt := range certTests {
		status, body := f.call(t, http.MethodPost, "/v1/certificates", tt.req)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, status, tt.status, body)
			continue
		}
		if tt.status != 200 {
			if got := decode[apiclient.Error](t, body).Message; got != tt.message {
				t.Errorf("%s: error %q, want %q", tt.name, got, tt.message)
			}
			continue
		}
		resp := decode[apiclient.CertificateResponse](t, body)
		roots := x509.NewCertPool()
		block, _ := pem.Decode([]byte(resp.CertificateChain))
		if block == nil || !roots.AppendCertsFromPEM([]byte(resp.TrustBundle)) {
			t.Fatalf("%s: answer holds no chain or bundle: %s", tt.name, body)
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: leaf does not verify: %v", tt.name, err)
		}
	}

	status, body = f.call(t, http.MethodGet, "/v1/workloads", nil)
	list := decode[apiclient.WorkloadList](t, body)
	if status != 200 || len(list.Items) != 1 || list.Items[0].CertExpiry == nil || list.Items[0].CertExpiry.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("workloads after signing: %d %s; want the certificate expiry recorded", status, body)
	}
	if status, _ := f.call(t, http.MethodDelete, "/v1/workloads/backend-1.shop", nil); status != 200 {
		t.Errorf("deregister: %d", status)
	}
	if status, _ := f.call(t, http.MethodDelete, "/v1/workloads/backend-1.shop", nil); status != 404 {
		t.Errorf("deregistering twice: %d, want 404", status)
	}
	if status, body := f.call(t, http.MethodGet, "/v1/workloads", nil); status != 200 || !bytes.Contains(body, []byte(`"items":[]`)) {
		t.Errorf("empty workload list: %d %s", status, body)
	}
}

func TestCertificatesFollowTheMeshTrustDomain(t *testing.T) {
	f := newFixture(t, nil)
	meshDoc := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"trustDomain":"example.org"}}`
	if status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(false, meshDoc)); status != 200 {
		t.Fatalf("apply: %d %s", status, body)
	}
	if status, body := f.call(t, http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://example.org/ns/a/sa/b")}); status != 200 {
		t.Errorf("CSR in the Mesh's trust domain: %d %s", status, body)
	}
	if status, _ := f.call(t, http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/a/sa/b")}); status != 400 {
		t.Errorf("CSR in the default trust domain after the Mesh changed it: %d, want 400", status)
	}
}

func TestCSRAuthorizer(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Authorizer = denyAll{} })
	status, body := f.call(t, http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/a/sa/b")})
	if status != http.StatusForbidden || decode[apiclient.Error](t, body).Message != "not allowed to obtain a certificate for spiffe://weft.local/ns/a/sa/b: no join token" {
		t.Errorf("denied CSR: %d %s", status, body)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := New(Config{Token: "short"}, nil)
	if err == nil || err.Error() != "apiserver: a token of at least 16 characters is required" {
		t.Errorf("New with a short token = %v", err)
	}
}
