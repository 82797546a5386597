// Package mtls holds the peer checks of the mesh's mutual TLS, shared by the server side
// (listeners) and the client side (clusters): chain verification against the current trust
// bundle and the check of the peer's SPIFFE URI SAN.
//
// The checks run in tls.Config.VerifyConnection so that they apply to resumed sessions too and
// always use the trust bundle in force at handshake time.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Errors a peer check returns, wrapped with details. Reason maps them to a metric label.
var (
	// ErrNoPeerCert: the peer presented no certificate.
	ErrNoPeerCert = errors.New("peer presented no certificate")
	// ErrUntrusted: the peer's certificate does not chain to the trust bundle.
	ErrUntrusted = errors.New("peer certificate not trusted")
	// ErrSANMismatch: the peer's URI SAN is not allowed.
	ErrSANMismatch = errors.New("peer identity not allowed")
)

// Handshake failure reasons, the values of the "reason" metric label.
const (
	ReasonNoClientCert = "no_client_cert"
	ReasonUntrusted    = "untrusted"
	ReasonSANMismatch  = "san_mismatch"
	ReasonPlaintext    = "plaintext"
	ReasonOther        = "other"
)

// Reason classifies a handshake error into one of the Reason* labels.
func Reason(err error) string {
	var rh tls.RecordHeaderError
	switch {
	case errors.Is(err, ErrNoPeerCert):
		return ReasonNoClientCert
	case errors.Is(err, ErrUntrusted):
		return ReasonUntrusted
	case errors.Is(err, ErrSANMismatch):
		return ReasonSANMismatch
	case errors.As(err, &rh):
		return ReasonPlaintext
	}
	return ReasonOther
}

// SANPolicy says which peer identities are accepted: a URI SAN equal to one of Exact or starting
// with one of Prefixes. A policy with neither accepts any trusted peer.
type SANPolicy struct {
	Exact    []string
	Prefixes []string
}

// Any reports whether the policy accepts every trusted peer.
func (p SANPolicy) Any() bool { return len(p.Exact) == 0 && len(p.Prefixes) == 0 }

// allows reports whether one of the URI SANs fits the policy.
func (p SANPolicy) allows(cert *x509.Certificate) bool {
	if p.Any() {
		return true
	}
	for _, u := range cert.URIs {
		if p.allowsString(u.String()) {
			return true
		}
	}
	return false
}

// Covers reports whether p accepts every identity q accepts (so connections verified under q
// remain acceptable under p).
func (p SANPolicy) Covers(q SANPolicy) bool {
	if p.Any() {
		return true
	}
	if q.Any() {
		return false
	}
	for _, e := range q.Exact {
		if !p.allowsString(e) {
			return false
		}
	}
	for _, qp := range q.Prefixes {
		covered := false
		for _, pp := range p.Prefixes {
			if strings.HasPrefix(qp, pp) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// allowsString reports whether the identity s fits the policy's lists.
func (p SANPolicy) allowsString(s string) bool {
	for _, e := range p.Exact {
		if s == e {
			return true
		}
	}
	for _, pre := range p.Prefixes {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

// VerifyPeer checks a peer's certificate chain (leaf first, as sent) against roots, with any
// extended key usage accepted, then its URI SAN against policy. A nil roots trusts nobody.
func VerifyPeer(chain []*x509.Certificate, roots *x509.CertPool, policy SANPolicy) error {
	if len(chain) == 0 {
		return ErrNoPeerCert
	}
	if roots == nil {
		return fmt.Errorf("%w: no trust bundle configured", ErrUntrusted)
	}
	leaf := chain[0]
	var inter *x509.CertPool
	if len(chain) > 1 {
		inter = x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if !policy.allows(leaf) {
		return fmt.Errorf("%w: %s", ErrSANMismatch, describeURIs(leaf))
	}
	return nil
}

func describeURIs(c *x509.Certificate) string {
	if len(c.URIs) == 0 {
		return "certificate has no URI SAN"
	}
	s := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		s[i] = u.String()
	}
	return "URI SAN " + strings.Join(s, ", ")
}

// ParseBundle parses a PEM trust bundle. An empty bundle yields a nil pool (nobody trusted); a
// bundle with anything but parseable certificates is an error.
func ParseBundle(bundle []byte) (*x509.CertPool, error) {
	if len(strings.TrimSpace(string(bundle))) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	rest := bundle
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("parsing trust bundle: unexpected PEM block %q", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing trust bundle certificate %d: %w", n, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("parsing trust bundle: no certificate found")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("parsing trust bundle: trailing data that is not PEM")
	}
	return pool, nil
}
