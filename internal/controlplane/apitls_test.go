package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// TestAPIAuthenticatesWorkloadCertificates runs weftd and calls its API with a workload
// certificate it issued, in place of any valid bearer token.
func TestAPIAuthenticatesWorkloadCertificates(t *testing.T) {
	w := startWeftd(t, t.TempDir())
	admin, cfg := client(t, w)
	ctx := testContext(t)
	web := &wire.Workload{ID: "web-1.shop", Service: "web", Namespace: "shop", ServiceAccount: "web",
		Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080}}
	if _, err := admin.RegisterWorkload(ctx, web); err != nil {
		t.Fatal(err)
	}
	cert := workloadCert(t, ctx, admin, "spiffe://weft.local/ns/shop/sa/web", web.ID)

	// The bearer token is wrong: only the certificate can authenticate these calls.
	wrongToken := cfg.WithToken("weft-jt.0123456789abcdef.bm90LXRoZS1zZWNyZXQ")
	viaCert, err := apiclient.New(wrongToken, apiclient.WithClientCertificate(func() *tls.Certificate { return &cert }))
	if err != nil {
		t.Fatal(err)
	}
	defer viaCert.Close()
	if _, err := viaCert.RenewLease(ctx, web.ID); err != nil {
		t.Errorf("renewing the lease with the workload certificate: %v", err)
	}
	var apiErr *apiclient.APIError
	if _, err := viaCert.Workloads(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Errorf("listing workloads with the workload certificate: %v, want 403 (not the admin's call)", err)
	}

	noCert, err := apiclient.New(wrongToken)
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if _, err := noCert.RenewLease(ctx, web.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("renewing the lease with the wrong token alone: %v, want 401", err)
	}

	// A certificate that weftd's CA did not issue fails the TLS handshake.
	pool, err := cfg.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	stranger := selfSignedWorkloadCert(t, "spiffe://weft.local/ns/shop/sa/web")
	present := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil } // sent even though weftd names other CAs
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, GetClientCertificate: present}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, cfg.Server+"/v1/workloads/"+web.ID+"/lease", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA: weftd answered %s, want the handshake refused", resp.Status)
	}
}

// selfSignedWorkloadCert is a workload-shaped certificate that no CA of weftd's issued.
func selfSignedWorkloadCert(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
