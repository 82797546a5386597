package apiclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seen is what the test server saw of one request.
type seen struct {
	Auth   string
	Serial int64 // of the client certificate, 0 without one
}

func selfSigned(t *testing.T, serial int64) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestWithClientCertificate(t *testing.T) {
	var (
		mu          sync.Mutex
		requests    []seen
		refuseCerts atomic.Bool
		clientToken = "client-token-0123456789"
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{Auth: r.Header.Get("Authorization")}
		if len(r.TLS.PeerCertificates) > 0 {
			s.Serial = r.TLS.PeerCertificates[0].SerialNumber.Int64()
		}
		mu.Lock()
		requests = append(requests, s)
		mu.Unlock()
		if s.Serial != 0 && refuseCerts.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"the client certificate expired"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"web-1"}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	var current atomic.Pointer[tls.Certificate]
	cfg := &ClientConfig{Server: srv.URL, Token: clientToken,
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
	c, err := New(cfg, WithClientCertificate(current.Load))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	renew := func(what string) {
		t.Helper()
		if _, err := c.RenewLease(t.Context(), "web-1"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	renew("without a certificate")
	current.Store(selfSigned(t, 11))
	renew("with the first certificate")
	renew("with the first certificate again")
	current.Store(selfSigned(t, 12))
	renew("with a renewed certificate")
	refuseCerts.Store(true)
	renew("with a certificate weftd refuses")

	bearer := "Bearer " + clientToken
	want := []seen{
		{Auth: bearer},
		{Serial: 11},
		{Serial: 11},
		{Serial: 12},
		{Serial: 12},   // refused...
		{Auth: bearer}, // ...so tried again with the token, without the certificate
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, requests); diff != "" {
		t.Errorf("requests weftd saw (-want +got):\n%s", diff)
	}
}

func TestUnreachableWeftdIsNamed(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	srv.Close() // nothing listens there now
	c, err := New(&ClientConfig{Server: "https://" + addr, Token: "t", CA: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Version(t.Context())
	if err == nil || !strings.Contains(err.Error(), "cannot reach weftd at https://"+addr+" (is it running?)") {
		t.Fatalf("error = %v, want it to say weftd cannot be reached at %s", err, addr)
	}
}
