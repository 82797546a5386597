package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T, dir string, log *slog.Logger) *Builtin {
	t.Helper()
	b, err := LoadOrCreateBuiltin(BuiltinConfig{Dir: dir, LeafTTL: time.Hour, Now: func() time.Time { return now }}, log)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t *testing.T, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// csr builds a PEM CSR signed by k for the given SANs.
func csr(t *testing.T, k crypto.Signer, uris []string, dns ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestRootIsCreatedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	var logs bytes.Buffer
	first := newCA(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "development only") {
		t.Errorf("no warning that the built-in root is for development; logs:\n%s", logs.String())
	}
	modes := map[string]os.FileMode{"": 0o700, RootKeyFile: 0o600, RootCertFile: 0o644}
	for name, want := range modes {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%q has mode %v, want %v", name, info.Mode().Perm(), want)
		}
	}
	root := first.Root()
	if !root.IsCA || root.PublicKeyAlgorithm != x509.ECDSA || root.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("root is not an ECDSA P-256 CA: %+v", root)
	}
	second := newCA(t, dir, nil)
	if !bytes.Equal(first.TrustBundle(), second.TrustBundle()) {
		t.Error("a restart made a new root")
	}
}

func TestHalfARootIsRefused(t *testing.T) {
	dir := t.TempDir()
	newCA(t, dir, nil)
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateBuiltin(BuiltinConfig{Dir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "root-key.pem does not: restore the key") {
		t.Errorf("LoadOrCreateBuiltin with the key missing = %v", err)
	}
}

func TestSignIssuesAVerifiableLeaf(t *testing.T) {
	b := newCA(t, t.TempDir(), nil)
	const id = "spiffe://weft.local/ns/shop/sa/backend"
	issued, err := b.Sign(context.Background(), SignRequest{CSR: csr(t, key(t, elliptic.P256()), []string{id}), TrustDomain: "weft.local"})
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(issued.ChainPEM)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("chain is not one PEM certificate: %s", issued.ChainPEM)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(issued.TrustBundlePEM) {
		t.Fatal("the trust bundle holds no certificate")
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("leaf does not verify for usage %v: %v", usage, err)
		}
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id || issued.SPIFFEID != id {
		t.Errorf("leaf URIs = %v, issued ID %q; want only %s", leaf.URIs, issued.SPIFFEID, id)
	}
	if len(leaf.DNSNames) != 0 || leaf.IsCA {
		t.Errorf("leaf has DNS names %v or is a CA", leaf.DNSNames)
	}
	if !leaf.NotBefore.Equal(now.Add(-time.Minute)) || !leaf.NotAfter.Equal(now.Add(time.Hour)) || !issued.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("validity %v - %v (issued.NotAfter %v), want %v - %v", leaf.NotBefore, leaf.NotAfter, issued.NotAfter, now.Add(-time.Minute), now.Add(time.Hour))
	}
}

func TestSignRefuses(t *testing.T) {
	b := newCA(t, t.TempDir(), nil)
	k := key(t, elliptic.P256())
	good := "spiffe://weft.local/ns/shop/sa/backend"
	tampered := func() []byte {
		block, _ := pem.Decode(csr(t, k, []string{good}))
		block.Bytes[len(block.Bytes)-1] ^= 0xff
		return pem.EncodeToMemory(block)
	}()
	tests := []struct {
		name    string
		csr     []byte
		wantErr string
	}{
		{"another trust domain", csr(t, k, []string{"spiffe://other.org/ns/shop/sa/backend"}),
			`SPIFFE ID spiffe://other.org/ns/shop/sa/backend is not in the mesh's trust domain "weft.local"`},
		{"malformed SPIFFE ID", csr(t, k, []string{"spiffe://weft.local/backend"}), "want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"},
		{"not a SPIFFE URI", csr(t, k, []string{"https://weft.local/ns/shop/sa/backend"}), "must start with spiffe://"},
		{"two URI SANs", csr(t, k, []string{good, "spiffe://weft.local/ns/shop/sa/admin"}), "want exactly one URI SAN (the SPIFFE ID), found 2"},
		{"no SAN", csr(t, k, nil), "want exactly one URI SAN (the SPIFFE ID), found 0"},
		{"a DNS SAN", csr(t, k, []string{good}, "backend.shop"), "only one URI SAN (the SPIFFE ID) is allowed; found DNS, IP or email SANs"},
		{"bad signature", tampered, "signature does not verify"},
		{"unsupported curve", csr(t, key(t, elliptic.P224()), []string{good}), "ECDSA curve P-224 is not supported"},
		{"not PEM", []byte("hello"), "no PEM block found"},
		{"a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `PEM block is "CERTIFICATE"`},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), "parsing: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued, err := b.Sign(context.Background(), SignRequest{CSR: tt.csr, TrustDomain: "weft.local"})
			if err == nil {
				t.Fatalf("Sign() issued %s", issued.SPIFFEID)
			}
			if !errors.Is(err, ErrInvalidCSR) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Sign() = %v, want ErrInvalidCSR containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServingCertificate(t *testing.T) {
	dir := t.TempDir()
	b := newCA(t, filepath.Join(dir, "ca"), nil)
	certPath, keyPath := filepath.Join(dir, "serving.pem"), filepath.Join(dir, "serving-key.pem")
	cert, err := b.ServingCertificate(certPath, keyPath, []string{"weftd.internal", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(b.Root())
	for _, host := range []string{"127.0.0.1", "localhost", "weftd.internal", "10.1.2.3"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: now}); err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", host, err)
		}
	}
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("serving key mode %v, want 0600", info.Mode().Perm())
	}

	again, err := b.ServingCertificate(certPath, keyPath, []string{"10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Error("a serving certificate that covers the SANs was not reused")
	}
	wider, err := b.ServingCertificate(certPath, keyPath, []string{"10.9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	widerLeaf, err := x509.ParseCertificate(wider.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !widerLeaf.IPAddresses[len(widerLeaf.IPAddresses)-1].Equal(net.ParseIP("10.9.9.9")) {
		t.Errorf("a new SAN did not reissue the certificate: IPs %v", widerLeaf.IPAddresses)
	}
}
