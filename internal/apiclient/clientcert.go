package apiclient

import (
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
)

// Option configures a Client.
type Option func(*Client)

// WithClientCertificate makes the client authenticate with a TLS client certificate once it
// has one: cert returns the certificate to present (chain, private key), or nil while there
// is none or the one held is no longer valid. While cert returns nil, the client sends its
// bearer token as before. Once it returns a certificate, the client presents it and sends no
// bearer token, except that a call weftd refuses that way (401, or a TLS error, as after
// weftd lost its CA) is tried once more with the bearer token and no certificate.
//
// The certificate is fixed per connection: when cert returns another one (a renewal), the
// next call opens a connection that presents it.
func WithClientCertificate(cert func() *tls.Certificate) Option {
	return func(c *Client) { c.certs = &certClients{cert: cert, tlsConf: c.tlsConf} }
}

// certClients keeps the HTTP client whose connections present the current certificate.
type certClients struct {
	cert    func() *tls.Certificate
	tlsConf *tls.Config

	mu   sync.Mutex
	held *tls.Certificate
	http *http.Client
}

// client returns the HTTP client presenting the current certificate, or nil when there is
// none. A new certificate gets a new transport; the old one's idle connections are closed.
func (cc *certClients) client() *http.Client {
	cert := cc.cert()
	if cert == nil {
		return nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cert == cc.held && cc.http != nil {
		return cc.http
	}
	if cc.http != nil {
		cc.http.CloseIdleConnections()
	}
	conf := cc.tlsConf.Clone()
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	cc.held, cc.http = cert, newHTTPClient(conf)
	return cc.http
}

// close releases the idle connections of the current certificate's client.
func (cc *certClients) close() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.http != nil {
		cc.http.CloseIdleConnections()
	}
}

// refusedCertificate reports whether a call made with the client certificate may succeed with
// the bearer token instead: weftd answered 401, or the call failed before weftd answered (the
// TLS handshake refused the certificate, or weftd is unreachable and the retry costs little).
func refusedCertificate(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode == http.StatusUnauthorized
	}
	return err != nil
}
