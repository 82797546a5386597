package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// testCert is a certificate and its key, made for a test PKI.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certOpts tune a test CA certificate.
type certOpts struct {
	notBefore, notAfter time.Time
	notCA               bool
	usage               x509.KeyUsage
}

// newTestCert makes a CA certificate named cn, signed by parent (self-signed when nil).
func newTestCert(t *testing.T, cn string, parent *testCert, o certOpts) *testCert {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(365 * 24 * time.Hour)
	}
	if o.usage == 0 {
		o.usage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Example Corp"}, CommonName: cn},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		IsCA:                  !o.notCA,
		BasicConstraintsValid: true,
		KeyUsage:              o.usage,
	}
	if o.notCA {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	signerCert, signerKey := tmpl, crypto.Signer(k)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, k.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: k}
}

// pki is an organisation's PKI on disk: root -> (policy CA ->) issuing CA.
type pki struct {
	root, policy, issuing         *testCert
	rootFile, chainFile, certFile string
	keyFile                       string
	dir                           string
}

// newPKI writes a three-level PKI (root -> policy CA -> issuing CA) to a temporary
// directory: the files backend's cert is the issuing CA, its chain the policy CA.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.root = newTestCert(t, "Example Corp Root CA", nil, certOpts{})
	p.policy = newTestCert(t, "Example Corp Policy CA", p.root, certOpts{})
	p.issuing = newTestCert(t, "Example Corp Mesh Issuing CA", p.policy, certOpts{})
	p.rootFile = p.write(t, "root.pem", encodeCerts([]*x509.Certificate{p.root.cert}), 0o644)
	p.chainFile = p.write(t, "chain.pem", encodeCerts([]*x509.Certificate{p.policy.cert}), 0o644)
	p.certFile = p.write(t, "issuing.pem", encodeCerts([]*x509.Certificate{p.issuing.cert}), 0o644)
	keyPEM, err := encodeKey(p.issuing.key)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = p.write(t, "issuing-key.pem", keyPEM, 0o600)
	return p
}

func (p *pki) write(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // the umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

func (p *pki) writeKey(t *testing.T, name string, c *testCert) string {
	t.Helper()
	keyPEM, err := encodeKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name, keyPEM, 0o600)
}

// filesOf is the Mesh's spec.ca.files naming the files of c.
func filesOf(c FilesConfig) *v1alpha1.CAFiles {
	return &v1alpha1.CAFiles{CertFile: c.CertFile, KeyFile: c.KeyFile, ChainFile: c.ChainFile, RootFile: c.RootFile}
}

func (p *pki) config() FilesConfig {
	return FilesConfig{CertFile: p.certFile, KeyFile: p.keyFile, ChainFile: p.chainFile, RootFile: p.rootFile,
		LeafTTL: time.Hour, Now: func() time.Time { return now }}
}
