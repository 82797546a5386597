package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
)

const testID = "spiffe://weft.local/ns/default/sa/web"

// testCA is a throw-away root that signs CSRs the way weftd does.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue signs a leaf for pub with the given URI SANs, valid from now for lifetime.
func (ca *testCA) issue(t *testing.T, pub any, uris []*url.URL, lifetime time.Duration) string {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now,
		NotAfter:     now.Add(lifetime),
		URIs:         uris,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// fakeSigner signs CSRs with a test CA, or fails while fail is set. Each call is reported on
// calls with the (possibly fake) time it happened.
type fakeSigner struct {
	t        *testing.T
	ca       *testCA
	lifetime time.Duration
	calls    chan signCall

	mu   sync.Mutex
	fail error
}

type signCall struct {
	at  time.Time
	req *apiclient.CertificateRequest
	csr *x509.CertificateRequest
}

func newFakeSigner(t *testing.T, lifetime time.Duration) *fakeSigner {
	return &fakeSigner{t: t, ca: newTestCA(t), lifetime: lifetime, calls: make(chan signCall, 100)}
}

func (s *fakeSigner) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *fakeSigner) SignCertificate(_ context.Context, req *apiclient.CertificateRequest) (*apiclient.CertificateResponse, error) {
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		s.t.Errorf("CSR is not a PEM CERTIFICATE REQUEST: %q", req.CSR)
		return nil, errors.New("bad csr")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		s.t.Errorf("parsing CSR: %v", err)
		return nil, err
	}
	s.calls <- signCall{at: time.Now(), req: req, csr: csr}
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return &apiclient.CertificateResponse{
		CertificateChain: s.ca.issue(s.t, csr.PublicKey, csr.URIs, s.lifetime),
		TrustBundle:      s.ca.pem,
	}, nil
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func unavailable() error {
	return &apiclient.APIError{StatusCode: 503, Body: apiclient.Error{Message: "weftd is restarting"}}
}

func TestRenewsAtHalfLifeAndServesTheNewCertificate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lifetime = time.Hour
		signer := newFakeSigner(t, lifetime)
		var logs logBuffer
		m, err := New(Config{Signer: signer, SPIFFEID: testID, WorkloadID: "web-1.default"}, newLogger(&logs))
		if err != nil {
			t.Fatal(err)
		}
		if m.Certificate() != nil || !m.Expiry().IsZero() || m.SerialNumber() != "" {
			t.Fatal("a manager that has not run holds a certificate")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()

		<-m.Ready()
		first := <-signer.calls
		if first.req.WorkloadID != "web-1.default" {
			t.Errorf("CSR sent with workload ID %q, want web-1.default", first.req.WorkloadID)
		}
		c1 := m.Certificate()
		if c1 == nil || c1.Leaf == nil || c1.PrivateKey == nil {
			t.Fatalf("after Ready, Certificate() = %#v, want a certificate with leaf and key", c1)
		}
		if got := c1.Leaf.URIs[0].String(); got != testID {
			t.Errorf("leaf URI SAN = %s, want %s", got, testID)
		}
		if !m.Expiry().Equal(c1.Leaf.NotAfter) || m.SerialNumber() != c1.Leaf.SerialNumber.Text(16) {
			t.Errorf("Expiry/SerialNumber = %s/%s, want the leaf's %s/%s", m.Expiry(), m.SerialNumber(), c1.Leaf.NotAfter, c1.Leaf.SerialNumber.Text(16))
		}

		second := <-signer.calls // time advances to the renewal
		wantAt := c1.Leaf.NotBefore.Add(c1.Leaf.NotAfter.Sub(c1.Leaf.NotBefore) / 2)
		if !second.at.Equal(wantAt) {
			t.Errorf("renewal asked at %s, want the half-life %s", second.at, wantAt)
		}
		synctest.Wait() // the renewed certificate is swapped in
		c2 := m.Certificate()
		if c2 == c1 || c2.Leaf.SerialNumber.Cmp(c1.Leaf.SerialNumber) == 0 {
			t.Fatal("after renewal, Certificate() still serves the first certificate")
		}
		if !c2.Leaf.NotAfter.After(c1.Leaf.NotAfter) || !m.Expiry().Equal(c2.Leaf.NotAfter) {
			t.Errorf("renewed expiry %s is not after the first %s (Expiry() = %s)", c2.Leaf.NotAfter, c1.Leaf.NotAfter, m.Expiry())
		}
		if k1, k2 := c1.PrivateKey.(*ecdsa.PrivateKey), c2.PrivateKey.(*ecdsa.PrivateKey); k1.Equal(k2) {
			t.Error("the renewed certificate reuses the previous key; want a fresh key")
		}
		got, err := m.GetClientCertificate(nil)
		if err != nil || got != c2 {
			t.Errorf("GetClientCertificate = %v, %v; want the renewed certificate", got, err)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
		out := logs.String()
		if !strings.Contains(out, "workload certificate renewed") {
			t.Errorf("renewal not logged:\n%s", out)
		}
		if strings.Contains(out, "PRIVATE") || strings.Contains(out, c2.PrivateKey.(*ecdsa.PrivateKey).D.Text(16)) {
			t.Errorf("the log shows key material:\n%s", out)
		}
	})
}

func TestKeepsRetryingAndWarnsOnceExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lifetime = 10 * time.Minute
		signer := newFakeSigner(t, lifetime)
		var logs logBuffer
		m, err := New(Config{Signer: signer, SPIFFEID: testID, RetryMin: time.Second, RetryMax: time.Minute}, newLogger(&logs))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		<-signer.calls
		<-m.Ready()
		c1 := m.Certificate()
		signer.setFail(unavailable())

		prev := (<-signer.calls).at // the renewal at half-life, which fails
		for prev.Before(c1.Leaf.NotAfter.Add(time.Minute)) {
			call := <-signer.calls
			if gap := call.at.Sub(prev); gap < time.Second/2 || gap > time.Minute {
				t.Fatalf("retry after %s, want within [RetryMin/2, RetryMax] = [500ms, 1m]", gap)
			}
			prev = call.at
		}
		synctest.Wait()
		if m.Certificate() != c1 {
			t.Error("a failed renewal replaced or cleared the held certificate")
		}
		if err := m.Err(); err == nil || !strings.Contains(err.Error(), "weftd is restarting") {
			t.Errorf("Err() = %v, want the signer's failure", err)
		}
		out := logs.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "EXPIRED") {
			t.Fatalf("an expired certificate is not reported at warn:\n%s", out)
		}

		signer.setFail(nil)
		<-signer.calls
		synctest.Wait()
		if c := m.Certificate(); c == c1 || !time.Now().Before(c.Leaf.NotAfter) {
			t.Error("after weftd came back, the certificate was not renewed")
		}
		if err := m.Err(); err != nil {
			t.Errorf("Err() after a successful renewal = %v, want nil", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func TestFirstCertificate(t *testing.T) {
	tests := []struct {
		name     string
		failures []error // returned by the first calls, in order
		wantErr  string  // Run's error; "" means a certificate is obtained
	}{
		{name: "weftd answers at once"},
		{name: "weftd down, then up", failures: []error{unavailable(), errors.New("connection refused"), unavailable()}},
		{name: "refused for good", failures: []error{&apiclient.APIError{StatusCode: 422, Body: apiclient.Error{Message: "SPIFFE ID not in trust domain corp.example"}}},
			wantErr: "not in trust domain corp.example"},
		{name: "bad token", failures: []error{unavailable(), &apiclient.APIError{StatusCode: 401, Body: apiclient.Error{Message: "unauthorized"}}},
			wantErr: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				signer := &scriptedSigner{inner: newFakeSigner(t, time.Hour), script: tt.failures}
				m, err := New(Config{Signer: signer, SPIFFEID: testID}, nil)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- m.Run(ctx) }()
				if tt.wantErr != "" {
					err := <-done
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Run = %v, want an error containing %q", err, tt.wantErr)
					}
					if m.Certificate() != nil {
						t.Error("a refused request left a certificate")
					}
					return
				}
				<-m.Ready()
				if m.Certificate() == nil {
					t.Fatal("Ready closed without a certificate")
				}
				if got := signer.count(); got != len(tt.failures)+1 {
					t.Errorf("signer called %d times, want %d", got, len(tt.failures)+1)
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			})
		})
	}
}

// scriptedSigner returns the errors of script on its first calls, then delegates.
type scriptedSigner struct {
	inner  *fakeSigner
	mu     sync.Mutex
	script []error
	n      int
}

func (s *scriptedSigner) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *scriptedSigner) SignCertificate(ctx context.Context, req *apiclient.CertificateRequest) (*apiclient.CertificateResponse, error) {
	s.mu.Lock()
	s.n++
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	resp, err := s.inner.SignCertificate(ctx, req)
	<-s.inner.calls
	return resp, err
}

// answerFunc is a signer built from a function.
type answerFunc func(*x509.CertificateRequest) (*apiclient.CertificateResponse, error)

func (f answerFunc) SignCertificate(_ context.Context, req *apiclient.CertificateRequest) (*apiclient.CertificateResponse, error) {
	block, _ := pem.Decode([]byte(req.CSR))
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	return f(csr)
}

func TestRefusesBadAnswers(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrongURI, _ := url.Parse("spiffe://weft.local/ns/default/sa/admin")
	tests := []struct {
		name   string
		answer answerFunc
		want   string
	}{
		{"garbage chain", func(*x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: "not pem", TrustBundle: ca.pem}, nil
		}, "no PEM certificate"},
		{"empty bundle", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, c.PublicKey, c.URIs, time.Hour)}, nil
		}, "trust bundle"},
		{"another key", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, otherKey.Public(), c.URIs, time.Hour), TrustBundle: ca.pem}, nil
		}, "not for the key"},
		{"another SPIFFE ID", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, c.PublicKey, []*url.URL{wrongURI}, time.Hour), TrustBundle: ca.pem}, nil
		}, "URI SANs"},
		{"two SANs", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, c.PublicKey, append(c.URIs, wrongURI), time.Hour), TrustBundle: ca.pem}, nil
		}, "URI SANs"},
		{"expired", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, c.PublicKey, c.URIs, -time.Minute), TrustBundle: ca.pem}, nil
		}, "expired"},
		{"untrusted issuer", func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
			return &apiclient.CertificateResponse{CertificateChain: other.issue(t, c.PublicKey, c.URIs, time.Hour), TrustBundle: ca.pem}, nil
		}, "does not chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(Config{Signer: tt.answer, SPIFFEID: testID}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = m.obtain(t.Context())
			if !errors.Is(err, errInvalidAnswer) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("obtain = %v, want an invalid-answer error containing %q", err, tt.want)
			}
			if m.Certificate() != nil {
				t.Error("a refused answer was installed")
			}
		})
	}
}

func TestCSRCarriesOnlyTheSPIFFEID(t *testing.T) {
	var got *x509.CertificateRequest
	ca := newTestCA(t)
	m, err := New(Config{Signer: answerFunc(func(c *x509.CertificateRequest) (*apiclient.CertificateResponse, error) {
		got = c
		return &apiclient.CertificateResponse{CertificateChain: ca.issue(t, c.PublicKey, c.URIs, time.Hour), TrustBundle: ca.pem}, nil
	}), SPIFFEID: testID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.obtain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := got.CheckSignature(); err != nil {
		t.Errorf("CSR signature: %v", err)
	}
	if len(got.URIs) != 1 || got.URIs[0].String() != testID {
		t.Errorf("CSR URI SANs = %v, want exactly [%s]", got.URIs, testID)
	}
	if len(got.DNSNames)+len(got.EmailAddresses)+len(got.IPAddresses) != 0 {
		t.Errorf("CSR has other SANs: %v %v %v", got.DNSNames, got.EmailAddresses, got.IPAddresses)
	}
	if pub, ok := got.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CSR key is %T, want ECDSA P-256", got.PublicKey)
	}
}

func TestValidate(t *testing.T) {
	signer := newFakeSigner(t, time.Hour)
	tests := []struct {
		name string
		cfg  Config
		want string // "" valid
	}{
		{"valid", Config{Signer: signer, SPIFFEID: testID}, ""},
		{"no signer", Config{SPIFFEID: testID}, "signer is required"},
		{"no ID", Config{Signer: signer}, "SPIFFE ID is required"},
		{"https scheme", Config{Signer: signer, SPIFFEID: "https://weft.local/ns/a/sa/b"}, "spiffe:// scheme"},
		{"no trust domain", Config{Signer: signer, SPIFFEID: "spiffe:///ns/a/sa/b"}, "trust domain"},
		{"port", Config{Signer: signer, SPIFFEID: "spiffe://weft.local:8/ns/a/sa/b"}, "trust domain"},
		{"bad path", Config{Signer: signer, SPIFFEID: "spiffe://weft.local/sa/b"}, "/ns/<namespace>/sa/<service-account>"},
		{"empty account", Config{Signer: signer, SPIFFEID: "spiffe://weft.local/ns/a/sa/"}, "/ns/<namespace>/sa/<service-account>"},
		{"query", Config{Signer: signer, SPIFFEID: testID + "?x=1"}, "query"},
		{"retry bounds", Config{Signer: signer, SPIFFEID: testID, RetryMin: time.Minute, RetryMax: time.Second}, "above the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := 1; n <= 12; n++ {
		ceil := min(lo<<(n-1), hi)
		for range 50 {
			d := Backoff(n, lo, hi)
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, d, ceil/2, ceil)
			}
		}
	}
}
