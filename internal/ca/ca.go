// Package ca is weftd's certificate authority: it signs workload certificate requests (X.509
// SVIDs for SPIFFE IDs of the mesh's trust domain) and serves the trust bundle. Authority is
// the seam for its backends; Builtin, a self-signed root kept in the data directory, is meant
// for development. Organisation PKI, Vault and SPIRE backends implement the same interface.
package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/weftmesh/weft/internal/mesh"
)

// Authority signs workload certificates.
type Authority interface {
	// Sign issues a certificate for the CSR. Errors about the request itself wrap ErrInvalidCSR.
	Sign(ctx context.Context, req SignRequest) (*Issued, error)
	// TrustBundle is the PEM of the CA certificates that workload certificates chain to.
	TrustBundle() []byte
}

// Backend is one certificate authority: a CA certificate and key that sign workload
// certificates, and the roots its chains lead to. Builtin and Files implement it; a Vault,
// cert-manager or SPIRE backend would too (docs/security-ca.md).
type Backend interface {
	Authority
	// Issuer is the CA certificate that signs workload certificates: the root of the
	// built-in CA, the intermediate of the files CA.
	Issuer() *x509.Certificate
	// Roots are the trust anchors: the certificates of TrustBundle, parsed.
	Roots() []*x509.Certificate
	// Anchor is the root of Roots that Issuer chains to.
	Anchor() *x509.Certificate
}

// SignRequest asks for a workload certificate.
type SignRequest struct {
	// CSR is a PEM "CERTIFICATE REQUEST" whose only SAN is one URI: the SPIFFE ID asked for.
	CSR []byte
	// TrustDomain is the mesh's trust domain: the SPIFFE ID must belong to it.
	TrustDomain string
	// Lifetime of the certificate (the Mesh's spec.certificates.lifetime); zero means the
	// backend's default. It is cut short so as not to outlive the CA.
	Lifetime time.Duration
}

// Issued is a signed workload certificate.
type Issued struct {
	// ChainPEM is the leaf certificate followed by any intermediates.
	ChainPEM []byte
	// TrustBundlePEM holds the roots the chain leads to.
	TrustBundlePEM []byte
	// SPIFFEID is the identity in the certificate.
	SPIFFEID string
	// NotAfter is the certificate's expiry.
	NotAfter time.Time
	// SerialNumber is the leaf's serial number in lower-case hexadecimal.
	SerialNumber string
	// Issuer is the SHA-256 fingerprint (see Fingerprint) of the CA certificate that signed
	// the leaf: weftd records it to know which workloads must renew after a rotation.
	Issuer string
}

// ErrInvalidCSR marks a refused certificate request.
var ErrInvalidCSR = errors.New("invalid certificate request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCSR, fmt.Sprintf(format, args...))
}

// ParseCSR decodes a PEM certificate request, checks its signature and that it asks for
// exactly one identity, a SPIFFE ID spiffe://<trustDomain>/ns/<ns>/sa/<sa>, and nothing else.
// Errors wrap ErrInvalidCSR.
func ParseCSR(csrPEM []byte, trustDomain string) (*x509.CertificateRequest, mesh.SPIFFEID, error) {
	block, rest := pem.Decode(csrPEM)
	if block == nil {
		return nil, mesh.SPIFFEID{}, invalid("no PEM block found")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, mesh.SPIFFEID{}, invalid("PEM block is %q, want \"CERTIFICATE REQUEST\"", block.Type)
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		return nil, mesh.SPIFFEID{}, invalid("more than one PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, mesh.SPIFFEID{}, invalid("parsing: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, mesh.SPIFFEID{}, invalid("signature does not verify: %v", err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, mesh.SPIFFEID{}, err
	}
	switch {
	case len(csr.DNSNames) > 0 || len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0:
		return nil, mesh.SPIFFEID{}, invalid("only one URI SAN (the SPIFFE ID) is allowed; found DNS, IP or email SANs")
	case len(csr.URIs) != 1:
		return nil, mesh.SPIFFEID{}, invalid("want exactly one URI SAN (the SPIFFE ID), found %d", len(csr.URIs))
	}
	id, err := mesh.ParseSPIFFEID(csr.URIs[0].String())
	if err != nil {
		return nil, mesh.SPIFFEID{}, invalid("%v", err)
	}
	if id.TrustDomain != trustDomain {
		return nil, mesh.SPIFFEID{}, invalid("SPIFFE ID %s is not in the mesh's trust domain %q", id, trustDomain)
	}
	return csr, id, nil
}

// checkPublicKey accepts ECDSA P-256 and P-384, Ed25519 and RSA keys of 2048 bits or more.
func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return invalid("ECDSA curve %s is not supported; use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return invalid("RSA key of %d bits is too small; use 2048 bits or more", k.N.BitLen())
		}
	default:
		return invalid("public key type %T is not supported; use ECDSA P-256", pub)
	}
	return nil
}
