package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
)

// obtain makes a new key, has weftd sign a CSR for it and, if the answer is a valid certificate
// for our SPIFFE ID and key, swaps it in.
func (m *Manager) obtain(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating an ECDSA P-256 key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		SignatureAlgorithm: x509.ECDSAWithSHA256,
		URIs:               []*url.URL{m.uri},
	}, key)
	if err != nil {
		return fmt.Errorf("creating the certificate request: %w", err)
	}
	req := &apiclient.CertificateRequest{
		CSR:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		WorkloadID: m.cfg.WorkloadID,
	}
	callCtx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	askedAt := time.Now().UnixNano()
	resp, err := m.cfg.Signer.SignCertificate(callCtx, req)
	if err != nil {
		return fmt.Errorf("asking weftd to sign the certificate request: %w", err)
	}
	h, err := m.accept(resp, key)
	if err != nil {
		return err
	}
	h.askedAt = askedAt
	prev := m.cur.Swap(h)
	m.readyOnce.Do(func() { close(m.ready) })
	attrs := []any{"serialNumber", h.serial, "notBefore", h.cert.Leaf.NotBefore, "notAfter", h.cert.Leaf.NotAfter,
		"renewAt", renewalTime(h.cert.Leaf)}
	if prev == nil {
		m.log.Info("workload certificate obtained", attrs...)
	} else {
		m.log.Info("workload certificate renewed", append(attrs, "previousSerialNumber", prev.serial)...)
	}
	return nil
}

// errInvalidAnswer marks a signed certificate the proxy refuses to use.
var errInvalidAnswer = errors.New("invalid certificate from weftd")

// accept checks weftd's answer: a chain whose leaf is for our SPIFFE ID and key, currently valid
// and chaining to the trust bundle sent with it.
func (m *Manager) accept(resp *apiclient.CertificateResponse, key *ecdsa.PrivateKey) (*held, error) {
	chain, err := parseCertificates([]byte(resp.CertificateChain))
	if err != nil {
		return nil, fmt.Errorf("%w: certificate chain: %w", errInvalidAnswer, err)
	}
	roots, err := parseCertificates([]byte(resp.TrustBundle))
	if err != nil {
		return nil, fmt.Errorf("%w: trust bundle: %w", errInvalidAnswer, err)
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: the leaf certificate is not for the key of the request", errInvalidAnswer)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != m.cfg.SPIFFEID {
		return nil, fmt.Errorf("%w: the leaf certificate's URI SANs are %v, want exactly [%s]", errInvalidAnswer, leaf.URIs, m.cfg.SPIFFEID)
	}
	now := time.Now()
	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: the leaf certificate expired at %s", errInvalidAnswer, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, c := range chain[1:] {
		interPool.AddCert(c)
	}
	// Verify at a time inside the validity window: weftd's clock may run slightly ahead of ours.
	at := now
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: the leaf certificate does not chain to the trust bundle: %w", errInvalidAnswer, err)
	}
	ders := make([][]byte, len(chain))
	for i, c := range chain {
		ders[i] = c.Raw
	}
	return &held{
		cert:   &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf},
		serial: serialHex(leaf.SerialNumber),
	}, nil
}

// parseCertificates parses every CERTIFICATE block of a PEM text; at least one is required and
// no other block type is allowed.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// serialHex renders a serial number as lower-case hexadecimal.
func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}

// Backoff returns the wait before retry number n (n >= 1): exponential from lo, capped at hi,
// with "equal jitter" (half fixed, half random) so retries spread out but still progress. The
// proxy's agent uses it too, for its registration and lease retries.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + mrand.N(d-half+1)
}
