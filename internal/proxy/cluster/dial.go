package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane/mtls"
)

// DefaultConnectTimeout bounds a connect (TCP and TLS handshake) when the cluster sets none.
const DefaultConnectTimeout = 5 * time.Second

// sessionCacheSize is the number of TLS sessions kept per endpoint for resumption.
const sessionCacheSize = 64

// dialer opens connections to one endpoint: TCP, then the mutual TLS client handshake when the
// cluster originates TLS.
type dialer struct {
	address string
	timeout time.Duration
	gauge   Gauge
	tls     *tls.Config // nil for plaintext
	// policy is the SAN policy in force; swapped when a config update widens it.
	policy atomic.Pointer[mtls.SANPolicy]
}

func newDialer(address string, c *config.Cluster, opts *Options, gauge Gauge) *dialer {
	d := &dialer{address: address, timeout: c.ConnectTimeout, gauge: gauge}
	if d.timeout <= 0 {
		d.timeout = DefaultConnectTimeout
	}
	if c.TLS == nil {
		return d
	}
	pol := policyOf(c.TLS)
	d.policy.Store(&pol)
	sni := c.TLS.SNI
	if sni == "" {
		if host, _, err := net.SplitHostPort(address); err == nil {
			sni = host
		}
	}
	alpn := c.TLS.ALPN
	if len(alpn) == 0 {
		alpn = defaultALPN(c.Protocol)
	}
	d.tls = &tls.Config{
		ServerName: sni,
		NextProtos: append([]string(nil), alpn...),
		// The default verification checks a DNS name the mesh does not use; VerifyConnection
		// below does the chain and SPIFFE SAN checks instead, on every handshake including
		// resumptions.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return mtls.VerifyPeer(cs.PeerCertificates, opts.TrustPool(), *d.policy.Load())
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert := opts.Certificate()
			if cert == nil {
				return nil, errors.New("no workload certificate available yet")
			}
			return cert, nil
		},
		ClientSessionCache: mtls.ScopedSessionCache(tls.NewLRUClientSessionCache(sessionCacheSize), opts.TrustID),
	}
	mtls.Apply(d.tls, c.TLS.Params)
	return d
}

func defaultALPN(p config.Protocol) []string {
	switch p {
	case config.HTTP2:
		return []string{"h2"}
	case config.TCP:
		return []string{"weft-tcp"}
	}
	return []string{"http/1.1"}
}

func policyOf(t *config.UpstreamTLS) mtls.SANPolicy {
	return mtls.SANPolicy{Exact: t.AllowedSANs, Prefixes: t.AllowedSANPrefixes}
}

// dial connects within the connect timeout and completes the TLS handshake if any.
func (d *dialer) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.address)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", d.address, err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	conn := newCountedConn(raw, d.gauge)
	if d.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", d.address, err)
	}
	return tc, nil
}
