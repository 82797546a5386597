package controlplane

import (
	"crypto/tls"
	"crypto/x509"
)

// apiServerTLS is the HTTPS API's TLS: weftd's serving certificate and, when a client
// presents one, a certificate checked against the workload trust bundle in force at each
// handshake (during a CA rotation, the old and the new roots). A client without a certificate
// (the CLI, a proxy before its first certificate) still connects and authenticates with a
// bearer token; the API checks the certificate again at every request (apiserver.Config's
// ClientTrust), since a connection can outlive it.
func apiServerTLS(serving tls.Certificate, trust func() *x509.CertPool) *tls.Config {
	perHandshake := func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    trust(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		}, nil
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{serving},
		ClientAuth:         tls.VerifyClientCertIfGiven,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2", "http/1.1"},
		GetConfigForClient: perHandshake,
	}
}
