package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"slices"
	"time"
)

// Serving certificate lifetime and renewal.
const (
	servingTTL = 365 * 24 * time.Hour
	// servingRenewBefore: a serving certificate closer than this to its expiry is reissued at
	// start.
	servingRenewBefore = 30 * 24 * time.Hour
)

// DefaultServingSANs are always in weftd's serving certificate.
var DefaultServingSANs = []string{"127.0.0.1", "localhost"}

// ServingCertificate returns weftd's serving certificate for the API and xDS servers, kept in
// certPath and keyPath. It reuses the files when their certificate chains to the root, covers
// every SAN asked for (DefaultServingSANs plus extraSANs, each a DNS name or an IP) and is not
// close to expiry; otherwise it issues a new one with a new ECDSA P-256 key.
func (b *Builtin) ServingCertificate(certPath, keyPath string, extraSANs []string) (tls.Certificate, error) {
	sans := append(slices.Clone(DefaultServingSANs), extraSANs...)
	var ips []net.IP
	var dns []string
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	if cert, ok := b.reusableServing(certPath, keyPath, dns, ips); ok {
		return cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := b.cfg.Now()
	notAfter := now.Add(servingTTL)
	if notAfter.After(b.root.NotAfter) {
		notAfter = b.root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "weftd"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.root, key.Public(), b.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issuing serving certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := encodeCert(der)
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading new serving certificate: %w", err)
	}
	b.log.Info("issued the serving certificate", "path", certPath, "dns", dns, "ips", ips)
	return cert, nil
}

// reusableServing loads the existing serving certificate if it is still good for dns and ips.
func (b *Builtin) reusableServing(certPath, keyPath string, dns []string, ips []net.IP) (tls.Certificate, bool) {
	leaf, certPEM, err := readCert(certPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	key, err := readKey(keyPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, false
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false
	}
	roots := x509.NewCertPool()
	roots.AddCert(b.root)
	now := b.cfg.Now()
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil || now.Add(servingRenewBefore).After(leaf.NotAfter) {
		return tls.Certificate{}, false
	}
	for _, d := range dns {
		if !slices.Contains(leaf.DNSNames, d) {
			return tls.Certificate{}, false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return tls.Certificate{}, false
		}
	}
	return cert, true
}
