package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/wire"
)

// TestInboundRefusesHostilePeers: the inbound listener of a sidecar refuses, before any byte
// reaches the application, a peer without a client certificate, with a certificate from
// another CA, with an expired certificate from the mesh's own CA, and with a TLS version or
// cipher below the mesh minimum; a peer with a valid certificate is served. (A valid
// certificate whose identity an AuthorizationPolicy denies: TestAuthorizationPolicies.)
func TestInboundRefusesHostilePeers(t *testing.T) {
	m := startRecMesh(t)
	inbound := addr(m.p1.inboundPort)
	before, err := appRequests(m.v1.addr)
	if err != nil {
		t.Fatal(err)
	}
	base := func() *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, ServerName: wire.InboundSNI(8080), NextProtos: []string{"http/1.1"}}
	}
	valid := m.w.meshCert(t, "spiffe://weft.local/ns/default/sa/client")

	// The mesh's own root signs an expired certificate for a mesh identity.
	rootCert, rootKey := readRoot(t, filepath.Join(m.w.dataDir, "ca"))
	expired := leafFrom(t, rootCert, rootKey, "spiffe://weft.local/ns/default/sa/client",
		time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))

	cases := []struct {
		name string
		cfg  func() *tls.Config
	}{
		{"no client certificate", base},
		{"a certificate from another CA", func() *tls.Config {
			c := base()
			c.Certificates = []tls.Certificate{selfSignedSPIFFE(t, "spiffe://weft.local/ns/default/sa/client")}
			return c
		}},
		{"an expired certificate from the mesh CA", func() *tls.Config {
			c := base()
			c.Certificates = []tls.Certificate{expired}
			return c
		}},
		{"TLS 1.2 when the mesh minimum is 1.3", func() *tls.Config {
			c := base()
			c.Certificates = []tls.Certificate{valid}
			c.MaxVersion = tls.VersionTLS12
			return c
		}},
	}
	for _, tc := range cases {
		if err := tlsRoundTrip(inbound, tc.cfg()); err == nil {
			t.Errorf("%s: served", tc.name)
		}
	}
	good := base()
	good.Certificates = []tls.Certificate{valid}
	if err := tlsRoundTrip(inbound, good); err != nil {
		t.Fatalf("a valid mesh certificate was refused: %v", err)
	}
	// The same construction as the expired certificate, valid now, is served: the expiry alone
	// made the difference.
	current := base()
	current.Certificates = []tls.Certificate{leafFrom(t, rootCert, rootKey, "spiffe://weft.local/ns/default/sa/client",
		time.Now().Add(-time.Minute), time.Now().Add(time.Hour))}
	if err := tlsRoundTrip(inbound, current); err != nil {
		t.Fatalf("a current certificate signed like the expired one was refused: %v", err)
	}

	// With the mesh minimum lowered to TLS 1.2, a 1.2 peer is served with an AEAD suite, and
	// refused with a CBC one.
	m.w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Mesh
metadata: {name: default}
spec:
  tls: {minVersion: "1.2"}
`)
	tls12 := func(suite uint16) *tls.Config {
		c := base()
		c.Certificates = []tls.Certificate{valid}
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{suite}
		return c
	}
	eventually(t, 10*time.Second, "TLS 1.2 with AES-GCM served once the minimum is 1.2", func() error {
		return tlsRoundTrip(inbound, tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
	})
	if err := tlsRoundTrip(inbound, tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256)); err == nil {
		t.Error("TLS 1.2 with a CBC cipher suite was served")
	}

	after, err := appRequests(m.v1.addr)
	if err != nil {
		t.Fatal(err)
	}
	// Three valid peers sent one request each.
	if after-before != 3 {
		t.Fatalf("the application received %d requests, want the 3 of the valid peers", after-before)
	}
}

// readRoot reads the built-in root certificate and key from weftd's CA directory.
func readRoot(t *testing.T, dir string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	cert := readCert(t, filepath.Join(dir, "root.pem"))
	keyPEM, err := os.ReadFile(filepath.Join(dir, "root-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		t.Fatal("root-key.pem holds no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key.(crypto.Signer)
}

// leafFrom signs a workload certificate for a SPIFFE ID with the given validity.
func leafFrom(t *testing.T, ca *x509.Certificate, caKey crypto.Signer, spiffeID string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spiffeID)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "expired"},
		NotBefore: notBefore, NotAfter: notAfter, URIs: []*url.URL{u},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
