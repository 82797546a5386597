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
	return servingTLS(serving, trust, tls.VerifyClientCertIfGiven, []string{"h2", "http/1.1"})
}

// servingTLS is the TLS of a weftd server: its serving certificate, and client certificates
// checked as clientAuth says against the trust bundle in force at each handshake (read anew
// for every connection, since a CA rotation changes it).
func servingTLS(serving tls.Certificate, trust func() *x509.CertPool, clientAuth tls.ClientAuthType, nextProtos []string) *tls.Config {
	perHandshake := func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientAuth:   clientAuth,
			ClientCAs:    trust(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   nextProtos,
		}, nil
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{serving},
		ClientAuth:         clientAuth,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         nextProtos,
		GetConfigForClient: perHandshake,
	}
}
