package apiserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/tokens"
)

// testCA is a root that signs workload certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (c *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// leaf issues a client certificate for uri (none when empty) valid from notBefore to notAfter.
func (c *testCA) leaf(t *testing.T, uri string, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if uri != "" {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.DNSNames = []string{"weftd.example"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// certFixture is a token fixture whose API also listens where TLS asks for (but does not
// itself check) client certificates, so that the API's own check is what is tested.
type certFixture struct {
	*fixture
	mesh    *testCA
	certSrv *httptest.Server
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	meshCA := newTestCA(t)
	f := newFixture(t, func(c *Config) {
		ts, err := tokens.Open(tokens.Config{}, c.Store.(*store.Bolt).DB(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Tokens = ts
		c.ClientTrust = meshCA.pool
	})
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &certFixture{fixture: f, mesh: meshCA, certSrv: srv}
}

// callCert sends a request presenting cert (none when nil) and auth (none when empty).
func (f *certFixture) callCert(t *testing.T, cert *tls.Certificate, method, path string, body any, auth string) (int, []byte) {
	t.Helper()
	tr := f.certSrv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	defer tr.CloseIdleConnections()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.certSrv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
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

func TestCertificateCallerActsAsItsIdentity(t *testing.T) {
	f := newCertFixture(t)
	now := time.Now()
	web := f.mesh.leaf(t, "spiffe://weft.local/ns/shop/sa/web", now.Add(-time.Minute), now.Add(time.Hour))
	const cred = "client certificate spiffe://weft.local/ns/shop/sa/web"
	if status, body := f.call(t, http.MethodPost, "/v1/workloads", workload("db-1.shop", "shop", "db")); status != 200 {
		t.Fatalf("admin registering db-1.shop: %d %s", status, body)
	}

	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		message      string
	}{
		{"register its identity", http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web"), 200, ""},
		{"register another service account", http.MethodPost, "/v1/workloads", workload("web-2.shop", "shop", "db"), 403,
			cred + ` is for namespace "shop", service account "web"; workload web-2.shop has namespace "shop", service account "db"`},
		{"take over a workload ID of another identity", http.MethodPost, "/v1/workloads", workload("db-1.shop", "shop", "web"), 403,
			`workload db-1.shop is registered with the identity spiffe://weft.local/ns/shop/sa/db; ` + cred + `, for namespace "shop", service account "web", cannot replace it`},
		{"renew its workload", http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, 200, ""},
		{"renew another identity's workload", http.MethodPut, "/v1/workloads/db-1.shop/lease", nil, 403,
			`workload db-1.shop has the identity spiffe://weft.local/ns/shop/sa/db; ` + cred + ` is for namespace "shop", service account "web"`},
		{"certificate of its identity", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/web"), WorkloadID: "web-1.shop"}, 200, ""},
		{"certificate of another identity", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/db")}, 403,
			"not allowed to obtain a certificate for spiffe://weft.local/ns/shop/sa/db: " + cred + " grants only spiffe://weft.local/ns/shop/sa/web"},
		{"list workloads", http.MethodGet, "/v1/workloads", nil, 403,
			cred + ` may only register, renew and deregister workloads of namespace "shop", service account "web" and obtain their certificate; GET /v1/workloads needs the admin token`},
		{"create a join token", http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "shop", ServiceAccount: "db"}, 403,
			cred + ` may only register, renew and deregister workloads of namespace "shop", service account "web" and obtain their certificate; POST /v1/tokens needs the admin token`},
		{"deregister another identity's workload", http.MethodDelete, "/v1/workloads/db-1.shop", nil, 403,
			`workload db-1.shop has the identity spiffe://weft.local/ns/shop/sa/db; ` + cred + ` is for namespace "shop", service account "web"`},
		{"deregister its workload", http.MethodDelete, "/v1/workloads/web-1.shop", nil, 200, ""},
	}
	for _, tt := range tests {
		status, body := f.callCert(t, web, tt.method, tt.path, tt.body, "")
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, status, tt.status, body)
			continue
		}
		if tt.message != "" {
			if got := decode[apiclient.Error](t, body).Message; got != tt.message {
				t.Errorf("%s: message\n%s\nwant\n%s", tt.name, got, tt.message)
			}
		}
	}
}

func TestCertificateOutlivesItsJoinToken(t *testing.T) {
	f := newCertFixture(t)
	now := time.Now()
	web := f.mesh.leaf(t, "spiffe://weft.local/ns/shop/sa/web", now.Add(-time.Minute), now.Add(time.Hour))
	tok := f.createToken(t, "shop", "web")
	bearer := "Bearer " + tok.Token
	if status, body := f.callCert(t, nil, http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web"), bearer); status != 200 {
		t.Fatalf("registering with the join token: %d %s", status, body)
	}
	if status, body := f.call(t, http.MethodDelete, "/v1/tokens/"+tok.ID, nil); status != 200 {
		t.Fatalf("revoking the join token: %d %s", status, body)
	}

	tests := []struct {
		name   string
		cert   *tls.Certificate
		auth   string
		method string
		path   string
		body   any
		status int
	}{
		{"renew with the certificate", web, "", http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, 200},
		{"renew with the certificate and the revoked token", web, bearer, http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, 200},
		{"certificate with the certificate", web, "", http.MethodPost, "/v1/certificates",
			apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/web"), WorkloadID: "web-1.shop"}, 200},
		{"renew with the revoked token alone", nil, bearer, http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, 401},
		{"register a new workload with the revoked token alone", nil, bearer, http.MethodPost, "/v1/workloads", workload("web-2.shop", "shop", "web"), 401},
		{"register a new workload with the certificate", web, "", http.MethodPost, "/v1/workloads", workload("web-2.shop", "shop", "web"), 200},
	}
	for _, tt := range tests {
		status, body := f.callCert(t, tt.cert, tt.method, tt.path, tt.body, tt.auth)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, status, tt.status, body)
		}
	}
}

func TestCertificateRefused(t *testing.T) {
	f := newCertFixture(t)
	now := time.Now()
	const id = "spiffe://weft.local/ns/shop/sa/web"
	other := newTestCA(t)
	tok := f.createToken(t, "shop", "web")
	if status, body := f.call(t, http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web")); status != 200 {
		t.Fatalf("admin registering web-1.shop: %d %s", status, body)
	}
	tests := []struct {
		name    string
		cert    *tls.Certificate
		auth    string
		status  int
		message string
	}{
		{"another CA", other.leaf(t, id, now.Add(-time.Minute), now.Add(time.Hour)), "", 401, "certificate signed by unknown authority"},
		{"expired", f.mesh.leaf(t, id, now.Add(-time.Hour), now.Add(-time.Minute)), "", 401, "expired"},
		{"no SPIFFE ID", f.mesh.leaf(t, "", now.Add(-time.Minute), now.Add(time.Hour)), "", 401, "want exactly one URI SAN (the SPIFFE ID), found 0"},
		{"not a workload SPIFFE ID", f.mesh.leaf(t, "spiffe://weft.local/weftd", now.Add(-time.Minute), now.Add(time.Hour)), "", 401, "want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"},
		{"another CA with a valid join token", other.leaf(t, id, now.Add(-time.Minute), now.Add(time.Hour)), "Bearer " + tok.Token, 200, ""},
		{"another CA with the admin token", other.leaf(t, id, now.Add(-time.Minute), now.Add(time.Hour)), "Bearer " + token, 200, ""},
	}
	for _, tt := range tests {
		status, body := f.callCert(t, tt.cert, http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, tt.auth)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, status, tt.status, body)
			continue
		}
		if msg := decode[apiclient.Error](t, body).Message; tt.message != "" && !strings.Contains(msg, tt.message) {
			t.Errorf("%s: message %q does not say %q", tt.name, msg, tt.message)
		}
	}
}

func TestAdminTokenWinsOverCertificate(t *testing.T) {
	f := newCertFixture(t)
	now := time.Now()
	web := f.mesh.leaf(t, "spiffe://weft.local/ns/shop/sa/web", now.Add(-time.Minute), now.Add(time.Hour))
	if status, body := f.callCert(t, web, http.MethodPost, "/v1/workloads", workload("db-1.shop", "shop", "db"), "Bearer "+token); status != 200 {
		t.Errorf("admin registering another identity's workload with a certificate: %d %s", status, body)
	}
	status, body := f.callCert(t, web, http.MethodGet, "/v1/workloads", nil, "Bearer "+token)
	if status != 200 {
		t.Fatalf("admin listing workloads with a certificate: %d %s", status, body)
	}
	if items := decode[apiclient.WorkloadList](t, body).Items; len(items) != 1 || items[0].ID != "db-1.shop" {
		t.Errorf("workloads = %+v, want db-1.shop", items)
	}
	// Without credentials, the certificate server still asks for a bearer token.
	if status, _ := f.callCert(t, nil, http.MethodGet, "/v1/version", nil, ""); status != 401 {
		t.Errorf("no credential: %d, want 401", status)
	}
}
