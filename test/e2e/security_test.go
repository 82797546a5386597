package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
	"github.com/weftmesh/weft/internal/wire"
)

func TestPlaintextToInboundIsRefused(t *testing.T) {
	m := startRecMesh(t)
	before, err := appRequests(m.v1.addr)
	if err != nil {
		t.Fatal(err)
	}
	inbound := addr(m.p1.inboundPort)

	// A plaintext HTTP request gets no HTTP answer.
	status, err := plaintextStatus(inbound)
	if err != nil {
		t.Fatal(err)
	}
	if status != "" {
		t.Fatalf("plaintext request to the inbound listener was answered: %q", status)
	}

	// TLS without a client certificate fails the handshake.
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: wire.InboundSNI(8080), NextProtos: []string{"http/1.1"}}
	if err := tlsRoundTrip(inbound, cfg); err == nil {
		t.Fatal("TLS without a client certificate was served")
	}

	// A client certificate from another CA, with a SPIFFE ID of the mesh, is refused too.
	cfg.Certificates = []tls.Certificate{selfSignedSPIFFE(t, "spiffe://weft.local/ns/default/sa/client")}
	if err := tlsRoundTrip(inbound, cfg); err == nil {
		t.Fatal("a certificate from another CA was served")
	}

	after, err := appRequests(m.v1.addr)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the application received %d requests from refused peers", after-before)
	}
}

func TestPeerWithWrongIdentityIsRefused(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: payments, namespace: default}
spec:
  ports: [{port: 8080, appProtocol: http}]
`)
	c, err := w.client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An impostor: registered as the payments workload (identity .../sa/payments) but holding a
	// mesh certificate for another identity.
	impostorCert := meshCert(ctx, t, c, "spiffe://weft.local/ns/default/sa/intruder")
	var served atomic.Int64
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{impostorCert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{"http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		served.Add(1)
		rw.Write([]byte(`{"service":"payments","version":"impostor"}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	if _, err := c.RegisterWorkload(ctx, &wire.Workload{
		ID: "payments-impostor.default", Service: "payments", Namespace: "default", ServiceAccount: "payments",
		Address: "127.0.0.1", InboundPort: int32(port), Ports: []int32{8080},
	}); err != nil {
		t.Fatal(err)
	}

	local := freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"payments.default:8080=" + strconv.Itoa(local)}})
	// The caller's proxy has the impostor as its only endpoint, and refuses it.
	eventually(t, 10*time.Second, "the caller refuses the impostor", func() error {
		_, code, err := get("http://" + addr(local) + "/")
		if err == nil {
			return errors.New("request to the impostor succeeded")
		}
		if code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
			return err
		}
		return nil
	})
	for i := 0; i < 5; i++ {
		if _, code, err := get("http://" + addr(local) + "/"); err == nil || (code != 502 && code != 503) {
			t.Fatalf("request %d to the impostor: status %d, %v", i, code, err)
		}
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("the impostor received %d requests", n)
	}
}

func TestAPIRefusesCallsWithoutTheCredential(t *testing.T) {
	w := newWeftd(t)
	cfg, err := clientconfig.Load(w.configPath)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := cfg.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/v1/resources/services", ""},
		{"GET", "/v1/workloads", "wrong-token"},
		{"POST", "/v1/apply", ""},
		{"POST", "/v1/certificates", "Bearer"},
	} {
		req, _ := http.NewRequest(tc.method, cfg.Server+tc.path, strings.NewReader(`{}`))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with token %q: status %d, want 401", tc.method, tc.path, tc.token, resp.StatusCode)
		}
	}
	// The credential file is readable by its owner only.
	for _, f := range []string{"admin.token", "client.yaml"} {
		if mode := fileMode(t, w.dataDir+"/"+f); mode&0o077 != 0 {
			t.Errorf("%s has mode %o, want owner-only", f, mode)
		}
	}
	u, _ := url.Parse(cfg.Server)
	if host, _, _ := net.SplitHostPort(u.Host); host != "127.0.0.1" {
		t.Errorf("API serves on %s", u.Host)
	}
}

// tlsRoundTrip opens a TLS connection and sends one HTTP request; nil means it was answered.
func tlsRoundTrip(address string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", address, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/") {
		return errors.New("no HTTP answer")
	}
	return nil
}

// meshCert asks this weftd, with its admin credential, for a certificate for a SPIFFE ID.
func (w *weftd) meshCert(t *testing.T, spiffeID string) tls.Certificate {
	t.Helper()
	c, err := w.client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return meshCert(ctx, t, c, spiffeID)
}

// meshCert gets a certificate signed by weftd for a SPIFFE ID, from a key made here.
func meshCert(ctx context.Context, t *testing.T, c *apiclient.Client, spiffeID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spiffeID)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.SignCertificate(ctx, &apiclient.CertificateRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
	if err != nil {
		t.Fatalf("signing %s: %v", spiffeID, err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair([]byte(resp.CertificateChain), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// selfSignedSPIFFE makes a certificate for a SPIFFE ID that no mesh CA signed.
func selfSignedSPIFFE(t *testing.T, spiffeID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spiffeID)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "intruder"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// appRequests asks a demo-app how many requests it has served.
func appRequests(appAddr string) (int, error) {
	h, err := health(appAddr)
	return h.Requests, err
}
