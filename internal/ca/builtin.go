package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// Defaults of the built-in CA.
const (
	DefaultLeafTTL = 24 * time.Hour
	DefaultRootTTL = 10 * 365 * 24 * time.Hour
	// backdate is how far in the past certificates start, to tolerate clock skew.
	backdate = time.Minute
)

// File names in the CA directory.
const (
	RootCertFile = "root.pem"
	RootKeyFile  = "root-key.pem"
)

// BuiltinConfig configures the built-in CA.
type BuiltinConfig struct {
	// Dir holds root.pem and root-key.pem (e.g. <data-dir>/ca). Created with mode 0700.
	Dir string
	// LeafTTL is the lifetime of workload certificates (default 24h).
	LeafTTL time.Duration
	// RootTTL is the lifetime of a newly created root (default 10 years).
	RootTTL time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// ServingOnly says the root only signs weftd's serving certificate (another CA signs
	// workload certificates): the warning that the built-in CA is for development is left out.
	ServingOnly bool
}

// Validate checks the configuration.
func (c BuiltinConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("ca: directory is required")
	case c.LeafTTL < 0:
		return fmt.Errorf("ca: leaf TTL %v is negative", c.LeafTTL)
	case c.RootTTL < 0:
		return fmt.Errorf("ca: root TTL %v is negative", c.RootTTL)
	}
	return nil
}

// Builtin is a CA whose self-signed root lives in the data directory. It is meant for
// development: anyone who can read the data directory can mint identities.
type Builtin struct {
	cfg     BuiltinConfig
	root    *x509.Certificate
	rootPEM []byte
	key     crypto.Signer
	log     *slog.Logger
}

var _ Backend = (*Builtin)(nil)

// LoadOrCreateBuiltin loads the root from cfg.Dir, creating a new ECDSA P-256 root there at
// first start.
func LoadOrCreateBuiltin(cfg BuiltinConfig, log *slog.Logger) (*Builtin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.LeafTTL == 0 {
		cfg.LeafTTL = DefaultLeafTTL
	}
	if cfg.RootTTL == 0 {
		cfg.RootTTL = DefaultRootTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating CA directory: %w", err)
	}
	certPath, keyPath := filepath.Join(cfg.Dir, RootCertFile), filepath.Join(cfg.Dir, RootKeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	b := &Builtin{cfg: cfg, log: log}
	switch {
	case certExists && keyExists:
		err = b.load(certPath, keyPath)
	case !certExists && !keyExists:
		err = b.create(certPath, keyPath)
	case certExists:
		err = fmt.Errorf("%s exists but %s does not: restore the key or remove both to make a new root", certPath, keyPath)
	default:
		err = fmt.Errorf("%s exists but %s does not: restore the certificate or remove both to make a new root", keyPath, certPath)
	}
	if err != nil {
		return nil, fmt.Errorf("built-in CA: %w", err)
	}
	if !cfg.ServingOnly {
		log.Warn("using the built-in root CA, meant for development only: anyone who can read its key can mint identities",
			"root", certPath, "expires", b.root.NotAfter.Format(time.RFC3339))
	}
	return b, nil
}

func (b *Builtin) load(certPath, keyPath string) error {
	cert, certPEM, err := readCert(certPath)
	if err != nil {
		return err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return err
	}
	if !cert.IsCA {
		return fmt.Errorf("%s is not a CA certificate", certPath)
	}
	if !reflect.DeepEqual(cert.PublicKey, key.Public()) {
		return fmt.Errorf("%s does not hold the key of %s", keyPath, certPath)
	}
	if now := b.cfg.Now(); now.After(cert.NotAfter) {
		return fmt.Errorf("root %s expired at %s", certPath, cert.NotAfter.Format(time.RFC3339))
	}
	if info, err := os.Stat(keyPath); err == nil && info.Mode().Perm()&0o077 != 0 {
		b.log.Warn("the CA key is readable by other users; chmod 600 it", "path", keyPath, "mode", info.Mode().Perm().String())
	}
	b.root, b.rootPEM, b.key = cert, certPEM, key
	return nil
}

func (b *Builtin) create(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating root key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	now := b.cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "Weft development root CA"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(b.cfg.RootTTL),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("creating root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parsing new root certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	// The key first: a root certificate without its key would be unusable.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	certPEM := encodeCert(der)
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return err
	}
	b.root, b.rootPEM, b.key = cert, certPEM, key
	b.log.Info("created the built-in root CA", "root", certPath)
	return nil
}

// Root is the root certificate.
func (b *Builtin) Root() *x509.Certificate { return b.root }

// TrustBundle is the PEM of the root.
func (b *Builtin) TrustBundle() []byte { return append([]byte(nil), b.rootPEM...) }

// Sign issues a workload certificate for a CSR; see Authority.
func (b *Builtin) Sign(ctx context.Context, req SignRequest) (*Issued, error) {
	issued, err := b.signer().sign(ctx, req)
	if err != nil {
		return nil, err
	}
	b.log.Debug("signed workload certificate", "spiffeID", issued.SPIFFEID, "notAfter", issued.NotAfter.Format(time.RFC3339))
	return issued, nil
}

func (b *Builtin) signer() *leafSigner {
	return &leafSigner{
		issuer: b.root, key: b.key, bundlePEM: b.rootPEM, notAfter: b.root.NotAfter,
		defaultTTL: b.cfg.LeafTTL, now: b.cfg.Now,
	}
}

// Issuer is the root: the built-in CA signs workload certificates with it directly.
func (b *Builtin) Issuer() *x509.Certificate { return b.root }

// Roots is the root.
func (b *Builtin) Roots() []*x509.Certificate { return []*x509.Certificate{b.root} }

// Anchor is the root.
func (b *Builtin) Anchor() *x509.Certificate { return b.root }

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial, nil
}
