package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// leafSigner signs workload certificates with one CA certificate and key. Builtin and Files
// share it.
type leafSigner struct {
	issuer *x509.Certificate
	key    crypto.Signer
	// chainPEM follows every leaf in the served chain: the intermediates up to (not
	// including) the root; empty for a root that signs directly.
	chainPEM []byte
	// bundlePEM is the trust bundle sent with every certificate.
	bundlePEM []byte
	// notAfter is the earliest expiry along the chain: no leaf outlives it.
	notAfter time.Time
	// defaultTTL applies when a request names no lifetime.
	defaultTTL time.Duration
	now        func() time.Time
}

// leafBackdate is how far in the past a workload certificate starts, to tolerate clock skew:
// a minute, but no more than a tenth of the lifetime, so that a short-lived certificate's
// half-life (when proxies renew) stays well after its issuance.
func leafBackdate(lifetime time.Duration) time.Duration {
	return min(backdate, lifetime/10)
}

// sign issues a workload certificate for the CSR of req.
func (s *leafSigner) sign(ctx context.Context, req SignRequest) (*Issued, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	csr, id, err := ParseCSR(req.CSR, req.TrustDomain)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	lifetime := req.Lifetime
	if lifetime <= 0 {
		lifetime = s.defaultTTL
	}
	now := s.now()
	notAfter := now.Add(lifetime).Truncate(time.Second) // certificates hold whole seconds
	if notAfter.After(s.notAfter) {
		notAfter = s.notAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := csr.PublicKey.(*rsa.PublicKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-leafBackdate(lifetime)),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  csr.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.issuer, csr.PublicKey, s.key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %s: %w", id, err)
	}
	chain := append(encodeCert(der), s.chainPEM...)
	return &Issued{
		ChainPEM:       chain,
		TrustBundlePEM: append([]byte(nil), s.bundlePEM...),
		SPIFFEID:       id.String(),
		NotAfter:       notAfter,
		SerialNumber:   serial.Text(16),
		Issuer:         Fingerprint(s.issuer),
	}, nil
}

// Fingerprint is the SHA-256 fingerprint of a certificate as openssl prints it
// (`openssl x509 -noout -fingerprint -sha256`): upper-case hexadecimal bytes joined by ':'.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// encodeCerts is the PEM of certificates, in order.
func encodeCerts(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, encodeCert(c.Raw)...)
	}
	return out
}

// ParseCertificates parses every block of a PEM text; each must be a CERTIFICATE. Text
// around the blocks is ignored; a text without any block yields no certificate and no error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want \"CERTIFICATE\"", len(out)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}
