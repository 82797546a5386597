package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// FilesConfig names the files of an intermediate CA of the organisation's PKI, on weftd's
// machine (the Mesh's spec.ca.files).
type FilesConfig struct {
	// CertFile is the PEM certificate of the CA that signs workload certificates.
	CertFile string
	// KeyFile is its PEM private key (PKCS#8 or SEC 1), readable by weftd's user only.
	KeyFile string
	// ChainFile, optional, holds the PEM certificates between CertFile and the root.
	ChainFile string
	// RootFile holds the PEM root certificate(s) peers trust: the trust bundle.
	RootFile string
	// LeafTTL is the default lifetime of workload certificates (default DefaultLeafTTL).
	LeafTTL time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Validate checks that the required files are named.
func (c FilesConfig) Validate() error {
	var errs []error
	if c.CertFile == "" {
		errs = append(errs, errors.New("certFile is required"))
	}
	if c.KeyFile == "" {
		errs = append(errs, errors.New("keyFile is required"))
	}
	if c.RootFile == "" {
		errs = append(errs, errors.New("rootFile is required"))
	}
	if c.LeafTTL < 0 {
		errs = append(errs, fmt.Errorf("leaf TTL %v is negative", c.LeafTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("files CA: %w", err)
	}
	return nil
}

// Files is a CA whose certificate and key are an intermediate of the organisation's PKI, read
// from files. Workload certificates chain through it (and the chain file) to the root file,
// so peers that trust the organisation's root verify them.
type Files struct {
	cfg    FilesConfig
	cert   *x509.Certificate
	key    crypto.Signer
	roots  []*x509.Certificate
	anchor *x509.Certificate
	signer *leafSigner
	log    *slog.Logger
}

var _ Backend = (*Files)(nil)

// LoadFiles reads and checks the files of an intermediate CA. It refuses a key file open to
// group or others, a certificate that is not a CA or may not sign certificates, a key that is
// not the certificate's, and a certificate that is not valid now or does not chain through
// the chain file to the root file. Errors name the file and what is wrong with it.
func LoadFiles(cfg FilesConfig, log *slog.Logger) (*Files, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.LeafTTL == 0 {
		cfg.LeafTTL = DefaultLeafTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Files{cfg: cfg, log: log}
	if err := f.load(); err != nil {
		return nil, fmt.Errorf("files CA: %w", err)
	}
	if left := f.signer.notAfter.Sub(cfg.Now()); left < 30*24*time.Hour {
		log.Warn("the CA certificate chain expires soon: plan a rotation (weft ca rotate)",
			"certFile", cfg.CertFile, "expires", f.signer.notAfter.Format(time.RFC3339))
	}
	return f, nil
}

func (f *Files) load() error {
	c := f.cfg
	cert, err := readOneCert(c.CertFile)
	if err != nil {
		return err
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("%s is not a CA certificate (its basic constraints do not say CA:TRUE): use the certificate of an intermediate CA", c.CertFile)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%s cannot sign certificates: its key usage lacks keyCertSign", c.CertFile)
	}
	if err := checkKeyMode(c.KeyFile); err != nil {
		return err
	}
	key, err := readKey(c.KeyFile)
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return fmt.Errorf("%s does not hold the key of the certificate in %s", c.KeyFile, c.CertFile)
	}
	var chain []*x509.Certificate
	if c.ChainFile != "" {
		if chain, err = readCertFile(c.ChainFile); err != nil {
			return err
		}
		for i, ch := range chain {
			if !ch.IsCA {
				return fmt.Errorf("%s: certificate %d (%s) is not a CA certificate; the chain file holds the CAs between %s and the root", c.ChainFile, i+1, ch.Subject, c.CertFile)
			}
		}
	}
	roots, err := readCertFile(c.RootFile)
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return fmt.Errorf("%s holds no certificate", c.RootFile)
	}
	for i, r := range roots {
		if !r.IsCA {
			return fmt.Errorf("%s: certificate %d (%s) is not a CA certificate", c.RootFile, i+1, r.Subject)
		}
	}
	now := f.cfg.Now()
	switch {
	case now.Before(cert.NotBefore):
		return fmt.Errorf("%s is not valid before %s", c.CertFile, cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(cert.NotAfter):
		return fmt.Errorf("%s expired at %s", c.CertFile, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, ch := range chain {
		interPool.AddCert(ch)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots: rootPool, Intermediates: interPool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		via := ""
		if c.ChainFile != "" {
			via = " through " + c.ChainFile
		}
		return fmt.Errorf("%s does not chain%s to a root of %s: %w", c.CertFile, via, c.RootFile, err)
	}
	path := chains[0]
	notAfter := cert.NotAfter
	for _, p := range path {
		if p.NotAfter.Before(notAfter) {
			notAfter = p.NotAfter
		}
	}
	f.cert, f.key, f.roots, f.anchor = cert, key, roots, path[len(path)-1]
	f.signer = &leafSigner{
		issuer:     cert,
		key:        key,
		chainPEM:   append(encodeCert(cert.Raw), encodeCerts(chain)...),
		bundlePEM:  encodeCerts(roots),
		notAfter:   notAfter,
		defaultTTL: f.cfg.LeafTTL,
		now:        f.cfg.Now,
	}
	return nil
}

// Sign issues a workload certificate; the chain is the leaf, the CA certificate and the
// chain file's certificates.
func (f *Files) Sign(ctx context.Context, req SignRequest) (*Issued, error) {
	issued, err := f.signer.sign(ctx, req)
	if err != nil {
		return nil, err
	}
	f.log.Debug("signed workload certificate", "spiffeID", issued.SPIFFEID, "notAfter", issued.NotAfter.Format(time.RFC3339))
	return issued, nil
}

// TrustBundle is the PEM of the root file's certificates.
func (f *Files) TrustBundle() []byte { return append([]byte(nil), f.signer.bundlePEM...) }

// Issuer is the intermediate CA certificate of CertFile.
func (f *Files) Issuer() *x509.Certificate { return f.cert }

// Roots are the root file's certificates.
func (f *Files) Roots() []*x509.Certificate { return f.roots }

// Anchor is the root the CA certificate chains to.
func (f *Files) Anchor() *x509.Certificate { return f.anchor }

// checkKeyMode refuses a key file that group or others may access.
func checkKeyMode(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is open to group or others (mode %s): a CA key must be readable by weftd's user only; chmod 600 it", path, perm)
	}
	return nil
}

// readCertFile parses every certificate of a PEM file.
func readCertFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// readOneCert reads a PEM file that holds exactly one certificate.
func readOneCert(path string) (*x509.Certificate, error) {
	certs, err := readCertFile(path)
	if err != nil {
		return nil, err
	}
	switch len(certs) {
	case 0:
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	case 1:
		return certs[0], nil
	}
	return nil, fmt.Errorf("%s holds %d certificates, want only the CA's: put the certificates between it and the root in the chain file", path, len(certs))
}
