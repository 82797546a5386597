package apiserver

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/weftmesh/weft/internal/mesh"
)

// certificateCaller returns the caller a request's TLS client certificate proves: a zero
// Caller and no error when no certificate was presented (or the server checks none), an
// error when the one presented does not prove a workload identity now. The chain is checked
// at every request, not only at the handshake, against the current trust bundle: a
// connection outlives both the certificate's expiry and a CA rotation.
func (s *Server) certificateCaller(r *http.Request) (Caller, error) {
	if s.cfg.ClientTrust == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return Caller{}, nil
	}
	roots := s.cfg.ClientTrust()
	if roots == nil {
		return Caller{}, errors.New("the client certificate cannot be checked: weftd has no workload trust bundle")
	}
	leaf := r.TLS.PeerCertificates[0]
	intermediates := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Caller{}, fmt.Errorf("the client certificate is not a valid workload certificate of this mesh: %w", err)
	}
	if len(leaf.URIs) != 1 {
		return Caller{}, fmt.Errorf("the client certificate is not a workload certificate: want exactly one URI SAN (the SPIFFE ID), found %d", len(leaf.URIs))
	}
	id, err := mesh.ParseSPIFFEID(leaf.URIs[0].String())
	if err != nil {
		return Caller{}, fmt.Errorf("the client certificate is not a workload certificate: %w", err)
	}
	return Caller{Certificate: leaf, CertificateID: id}, nil
}
