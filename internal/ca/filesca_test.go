package ca

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSPIFFE = "spiffe://weft.local/ns/default/sa/web"

func TestFilesSignsLeavesThatChainToTheOrganisationRoot(t *testing.T) {
	p := newPKI(t)
	f, err := LoadFiles(p.config(), nil)
	if err != nil {
		t.Fatalf("LoadFiles: %v", err)
	}
	issued, err := f.Sign(t.Context(), SignRequest{CSR: csr(t, key(t, elliptic.P256()), []string{testSPIFFE}), TrustDomain: "weft.local", Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	chain, err := ParseCertificates(issued.ChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || !chain[1].Equal(p.issuing.cert) || !chain[2].Equal(p.policy.cert) {
		t.Fatalf("served chain has %d certificates, want leaf + issuing CA + policy CA", len(chain))
	}
	leaf := chain[0]
	if got := leaf.URIs[0].String(); got != testSPIFFE || leaf.IsCA {
		t.Errorf("leaf is for %s (CA %v), want a non-CA leaf for %s", got, leaf.IsCA, testSPIFFE)
	}
	if want := now.Add(10 * time.Minute); !leaf.NotAfter.Equal(want) || !issued.NotAfter.Equal(want) {
		t.Errorf("leaf expires at %s, want now + the requested lifetime %s", leaf.NotAfter, want)
	}
	if !bytes.Equal(issued.TrustBundlePEM, f.TrustBundle()) || !bytes.Equal(f.TrustBundle(), encodeCert(p.root.cert.Raw)) {
		t.Error("the trust bundle is not the root file's certificate")
	}
	if issued.Issuer != Fingerprint(p.issuing.cert) || !f.Issuer().Equal(p.issuing.cert) || !f.Anchor().Equal(p.root.cert) {
		t.Errorf("issuer %s, want the issuing CA's fingerprint %s", issued.Issuer, Fingerprint(p.issuing.cert))
	}
	if issued.SerialNumber != leaf.SerialNumber.Text(16) {
		t.Errorf("serial %s, want the leaf's %s", issued.SerialNumber, leaf.SerialNumber.Text(16))
	}
	// Peers trust the organisation's root alone.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.root.cert)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the leaf does not verify against the root: %v", err)
	}
	opensslVerify(t, p.rootFile, issued.ChainPEM)
}

// opensslVerify checks a served chain with `openssl verify -CAfile root -untrusted <chain>
// leaf`, as a peer outside Weft would, at the test's clock.
func opensslVerify(t *testing.T, rootFile string, chainPEM []byte) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openssl is required in CI (scripts/test.sh installs it): %v", err)
		}
		t.Skip("openssl is not installed (scripts/test.sh installs it); skipping the check with openssl")
	}
	first, rest := pem.Decode(chainPEM)
	dir := t.TempDir()
	leafFile, untrustedFile := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(leafFile, pem.EncodeToMemory(first), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(untrustedFile, rest, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "verify", "-attime", strconv.FormatInt(now.Add(time.Minute).Unix(), 10),
		"-CAfile", rootFile, "-untrusted", untrustedFile, leafFile)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	// And without the intermediates, the leaf must not verify: the check can fail.
	out, err = exec.Command(bin, "verify", "-attime", strconv.FormatInt(now.Add(time.Minute).Unix(), 10),
		"-CAfile", rootFile, leafFile).CombinedOutput()
	if err == nil {
		t.Fatalf("openssl verify passed without the intermediates:\n%s", out)
	}
}

func TestFilesRefuses(t *testing.T) {
	tests := []struct {
		name string
		// change breaks the PKI; it returns the config to load.
		change func(t *testing.T, p *pki) FilesConfig
		want   []string // in the error, besides ErrInvalidCA's absence (LoadFiles)
	}{
		{"key readable by others", func(t *testing.T, p *pki) FilesConfig {
			if err := os.Chmod(p.keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
			return p.config()
		}, []string{"issuing-key.pem", "open to group or others", "chmod 600"}},
		{"key readable by group", func(t *testing.T, p *pki) FilesConfig {
			if err := os.Chmod(p.keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
			return p.config()
		}, []string{"issuing-key.pem", "open to group or others"}},
		{"not a CA", func(t *testing.T, p *pki) FilesConfig {
			leaf := newTestCert(t, "not a CA", p.policy, certOpts{notCA: true})
			c := p.config()
			c.CertFile = p.write(t, "leaf.pem", encodeCert(leaf.cert.Raw), 0o644)
			c.KeyFile = p.writeKey(t, "leaf-key.pem", leaf)
			return c
		}, []string{"leaf.pem", "is not a CA certificate"}},
		{"cannot sign certificates", func(t *testing.T, p *pki) FilesConfig {
			ca := newTestCert(t, "CRL only", p.policy, certOpts{usage: x509.KeyUsageCRLSign})
			c := p.config()
			c.CertFile = p.write(t, "crl.pem", encodeCert(ca.cert.Raw), 0o644)
			c.KeyFile = p.writeKey(t, "crl-key.pem", ca)
			return c
		}, []string{"crl.pem", "cannot sign certificates", "keyCertSign"}},
		{"key of another certificate", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.KeyFile = p.writeKey(t, "other-key.pem", newTestCert(t, "other", nil, certOpts{}))
			return c
		}, []string{"other-key.pem", "does not hold the key", "issuing.pem"}},
		{"chain file missing", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.ChainFile = ""
			return c
		}, []string{"issuing.pem", "does not chain", "root.pem"}},
		{"another root", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.RootFile = p.write(t, "other-root.pem", encodeCert(newTestCert(t, "Other Root", nil, certOpts{}).cert.Raw), 0o644)
			return c
		}, []string{"issuing.pem", "does not chain through", "chain.pem", "other-root.pem"}},
		{"expired", func(t *testing.T, p *pki) FilesConfig {
			old := newTestCert(t, "expired", p.policy, certOpts{notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)})
			c := p.config()
			c.CertFile = p.write(t, "expired.pem", encodeCert(old.cert.Raw), 0o644)
			c.KeyFile = p.writeKey(t, "expired-key.pem", old)
			return c
		}, []string{"expired.pem", "expired at"}},
		{"not valid yet", func(t *testing.T, p *pki) FilesConfig {
			early := newTestCert(t, "future", p.policy, certOpts{notBefore: now.Add(time.Hour)})
			c := p.config()
			c.CertFile = p.write(t, "future.pem", encodeCert(early.cert.Raw), 0o644)
			c.KeyFile = p.writeKey(t, "future-key.pem", early)
			return c
		}, []string{"future.pem", "not valid before"}},
		{"two certificates in the cert file", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.CertFile = p.write(t, "full.pem", encodeCerts([]*x509.Certificate{p.issuing.cert, p.policy.cert}), 0o644)
			return c
		}, []string{"full.pem", "holds 2 certificates", "chain file"}},
		{"missing root file", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.RootFile = filepath.Join(p.dir, "nope.pem")
			return c
		}, []string{"nope.pem", "no such file"}},
		{"root file without certificates", func(t *testing.T, p *pki) FilesConfig {
			c := p.config()
			c.RootFile = p.write(t, "empty.pem", []byte("nothing here\n"), 0o644)
			return c
		}, []string{"empty.pem", "holds no certificate"}},
		{"files not named", func(*testing.T, *pki) FilesConfig {
			return FilesConfig{ChainFile: "x"}
		}, []string{"certFile is required", "keyFile is required", "rootFile is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			_, err := LoadFiles(tt.change(t, p), nil)
			if err == nil {
				t.Fatal("LoadFiles accepted a bad CA")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOpenWrapsErrInvalidCA(t *testing.T) {
	p := newPKI(t)
	if err := os.Chmod(p.keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	c := p.config()
	_, err := Open(Source{Type: "files", Files: filesOf(c)}, time.Hour, c.Now, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrInvalidCA) {
		t.Fatalf("Open = %v, want ErrInvalidCA", err)
	}
	if _, err := Open(Source{Type: "vault"}, time.Hour, c.Now, nil); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "vault") {
		t.Fatalf("Open(vault) = %v, want ErrInvalidCA naming the type", err)
	}
}

func TestShortLifetimeKeepsTheHalfLifeAfterIssuance(t *testing.T) {
	b := newCA(t, filepath.Join(t.TempDir(), "ca"), nil)
	issued, err := b.Sign(t.Context(), SignRequest{CSR: csr(t, key(t, elliptic.P256()), []string{testSPIFFE}), TrustDomain: "weft.local", Lifetime: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ParseCertificates(issued.ChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	half := leaf[0].NotBefore.Add(leaf[0].NotAfter.Sub(leaf[0].NotBefore) / 2)
	if !half.After(now) {
		t.Errorf("a 4s certificate (from %s to %s) has its half-life %s before its issuance %s: proxies would renew it in a loop",
			leaf[0].NotBefore, leaf[0].NotAfter, half, now)
	}
	if got := leaf[0].NotAfter.Sub(now); got != 4*time.Second {
		t.Errorf("lifetime after issuance = %s, want 4s", got)
	}
}
