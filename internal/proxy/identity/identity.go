// Package identity holds the proxy's workload identity: an X.509 SVID for a SPIFFE ID, obtained
// by sending a certificate signing request to weftd and renewed at half-life.
//
// The private key is generated in memory (ECDSA P-256, a fresh key for every certificate), is
// never written anywhere and never logged. Readers get the current certificate through an atomic
// pointer, so a renewal applies to the next TLS handshake without touching live connections.
package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
)

// Signer signs certificate requests; *apiclient.Client implements it.
type Signer interface {
	SignCertificate(ctx context.Context, req *apiclient.CertificateRequest) (*apiclient.CertificateResponse, error)
}

// Default retry bounds of Config.
const (
	DefaultRetryMin = 500 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	// DefaultRequestTimeout bounds one call to the signer.
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures a Manager.
type Config struct {
	// Signer signs the CSRs (required).
	Signer Signer
	// SPIFFEID is the identity asked for: spiffe://<trust-domain>/ns/<namespace>/sa/<account>.
	SPIFFEID string
	// WorkloadID, when set, is sent with each CSR so weftd records the certificate's expiry on
	// that workload. A gateway, which is not a registered workload, leaves it empty.
	WorkloadID string
	// RetryMin and RetryMax bound the jittered exponential backoff between failed attempts
	// (defaults DefaultRetryMin and DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// RequestTimeout bounds one signing call (default DefaultRequestTimeout).
	RequestTimeout time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Signer == nil {
		return errors.New("identity: a signer is required")
	}
	if err := ValidateSPIFFEID(c.SPIFFEID); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if c.RetryMin < 0 || c.RetryMax < 0 || c.RequestTimeout < 0 {
		return errors.New("identity: retry bounds and request timeout must not be negative")
	}
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		return fmt.Errorf("identity: retry minimum %s is above the maximum %s", c.RetryMin, c.RetryMax)
	}
	return nil
}

// ValidateSPIFFEID checks that id has the form spiffe://<trust-domain>/ns/<namespace>/sa/<account>.
func ValidateSPIFFEID(id string) error {
	if id == "" {
		return errors.New("SPIFFE ID is required")
	}
	u, err := url.Parse(id)
	if err != nil {
		return fmt.Errorf("SPIFFE ID %q does not parse: %w", id, err)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	switch {
	case u.Scheme != "spiffe":
		return fmt.Errorf("SPIFFE ID %q must use the spiffe:// scheme", id)
	case u.Host == "" || u.User != nil || u.Port() != "":
		return fmt.Errorf("SPIFFE ID %q must name a trust domain and nothing else before the path", id)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("SPIFFE ID %q must not have a query or a fragment", id)
	case len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" || parts[1] == "" || parts[3] == "":
		return fmt.Errorf("SPIFFE ID %q must have the path /ns/<namespace>/sa/<service-account>", id)
	}
	return nil
}

// held is one certificate with what readers need, swapped as a whole.
type held struct {
	cert   *tls.Certificate // Leaf is set
	serial string
	// askedAt is when the request for this certificate was sent (Unix nanoseconds).
	askedAt int64
}

// Manager obtains and renews the proxy's certificate. Its getters are safe for concurrent use.
type Manager struct {
	cfg Config
	uri *url.URL
	log *slog.Logger

	cur       atomic.Pointer[held]
	ready     chan struct{}
	readyOnce sync.Once
	// renewNow wakes Run for RenewNow; renewAsked is when it was last called (Unix ns).
	renewNow   chan struct{}
	renewAsked atomic.Int64

	mu      sync.Mutex
	lastErr error
}

// New returns a Manager; nothing is requested until Run.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	uri, err := url.Parse(cfg.SPIFFEID)
	if err != nil { // checked by Validate; kept for safety
		return nil, fmt.Errorf("identity: parsing SPIFFE ID: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:      cfg,
		uri:      uri,
		log:      log.With("spiffeID", cfg.SPIFFEID),
		ready:    make(chan struct{}),
		renewNow: make(chan struct{}, 1),
	}, nil
}

// Certificate returns the current certificate (chain, key and parsed leaf), or nil before the
// first one was obtained. It may be expired if renewal keeps failing (that is logged at warn).
func (m *Manager) Certificate() *tls.Certificate {
	if h := m.cur.Load(); h != nil {
		return h.cert
	}
	return nil
}

// GetClientCertificate serves the current certificate as a tls.Config.GetClientCertificate.
func (m *Manager) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := m.Certificate(); c != nil {
		return c, nil
	}
	return nil, errors.New("the proxy has no workload certificate yet")
}

// SPIFFEID returns the identity this manager asks certificates for.
func (m *Manager) SPIFFEID() string { return m.cfg.SPIFFEID }

// Expiry returns the NotAfter of the current certificate, or the zero time when there is none.
func (m *Manager) Expiry() time.Time {
	if h := m.cur.Load(); h != nil {
		return h.cert.Leaf.NotAfter
	}
	return time.Time{}
}

// SerialNumber returns the current certificate's serial number in hexadecimal, or "".
func (m *Manager) SerialNumber() string {
	if h := m.cur.Load(); h != nil {
		return h.serial
	}
	return ""
}

// Ready is closed once the first certificate is held.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Err returns the error of the last attempt to obtain or renew the certificate, or nil if the
// last attempt succeeded (or none was made yet).
func (m *Manager) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastErr
}

func (m *Manager) setErr(err error) {
	m.mu.Lock()
	m.lastErr = err
	m.mu.Unlock()
}

// Run obtains the first certificate, then renews it at half of its lifetime, until ctx is done.
// Failures are retried with jittered exponential backoff and logged at warn, louder once the
// held certificate has expired. Run returns nil when ctx is done; it returns an error only when
// the first certificate is refused for a reason retrying cannot fix (for instance a SPIFFE ID
// outside weftd's trust domain, or a bad token).
func (m *Manager) Run(ctx context.Context) error {
	failures := 0
	var wait time.Duration // zero: ask now
	for {
		if wait > 0 {
			if !m.sleep(ctx, wait) {
				return nil
			}
		} else if ctx.Err() != nil {
			return nil
		}

		err := m.obtain(ctx)
		if err == nil {
			failures = 0
			m.setErr(nil)
			// A certificate already past its half-life when issued must not make this loop spin.
			wait = max(time.Until(renewalTime(m.cur.Load().cert.Leaf)), m.cfg.RetryMin)
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		failures++
		m.setErr(err)
		h := m.cur.Load()
		if h == nil && Permanent(err) {
			return fmt.Errorf("obtaining a certificate for %s: %w", m.cfg.SPIFFEID, err)
		}
		wait = Backoff(failures, m.cfg.RetryMin, m.cfg.RetryMax)
		switch {
		case h == nil:
			m.log.Warn("obtaining the workload certificate failed; retrying",
				"attempt", failures, "retryIn", wait, "error", err)
		case !time.Now().Before(h.cert.Leaf.NotAfter):
			m.log.Warn("the workload certificate has EXPIRED and renewing it failed: peers refuse this proxy until renewal succeeds; retrying",
				"expiredAt", h.cert.Leaf.NotAfter, "attempt", failures, "retryIn", wait, "error", err)
		default:
			m.log.Warn("renewing the workload certificate failed; retrying",
				"expiresAt", h.cert.Leaf.NotAfter, "attempt", failures, "retryIn", wait, "error", err)
		}
	}
}

// renewalTime is the half-life of a certificate.
func renewalTime(leaf *x509.Certificate) time.Time {
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
}

// Permanent reports whether weftd refused a request for a reason a retry cannot fix: the
// request itself (bad flags) or the credentials are wrong. The proxy's agent uses it too, for
// its registration with weftd.
func Permanent(err error) bool {
	var apiErr *apiclient.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.StatusCode {
	case 400, 401, 403, 405, 422:
		return true
	}
	return false
}

// RenewNow asks for a new certificate at once, without waiting for the half-life: weftd says
// (in its lease answer) that the held certificate is not from the CA that signs now. It does
// not block. A request is covered by any certificate asked for after it, so repeated calls
// while a renewal is under way cause no extra renewal.
func (m *Manager) RenewNow() {
	m.renewAsked.Store(time.Now().UnixNano())
	select {
	case m.renewNow <- struct{}{}:
	default:
	}
}

// sleep waits for d, or until RenewNow asks for a certificate newer than the held one. It
// returns false when ctx is done.
func (m *Manager) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-m.renewNow:
			if h := m.cur.Load(); h != nil && h.askedAt >= m.renewAsked.Load() {
				continue // the held certificate was asked for after (or as) the request
			}
			m.log.Info("renewing the workload certificate now: weftd asked for it (its CA changed)")
			return true
		}
	}
}
