package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/weftmesh/weft/internal/proxy/dataplane/testpki"
)

func chainOf(t *testing.T, c *tls.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func TestVerifyPeer(t *testing.T) {
	root := testpki.NewCA(t, "root")
	inter := root.Intermediate(t, "intermediate")
	other := testpki.NewCA(t, "other")
	roots, err := ParseBundle(root.PEM)
	if err != nil {
		t.Fatal(err)
	}
	const id = "spiffe://weft.test/ns/a/sa/b"
	exact := SANPolicy{Exact: []string{id}}
	tests := []struct {
		name   string
		chain  []*x509.Certificate
		roots  *x509.CertPool
		policy SANPolicy
		want   error
	}{
		{"trusted, any identity", chainOf(t, root.Leaf(t, id)), roots, SANPolicy{}, nil},
		{"trusted, exact identity", chainOf(t, root.Leaf(t, id)), roots, exact, nil},
		{"trusted, prefix", chainOf(t, root.Leaf(t, id)), roots, SANPolicy{Prefixes: []string{"spiffe://weft.test/"}}, nil},
		{"through an intermediate", chainOf(t, inter.Leaf(t, id)), roots, exact, nil},
		{"server-only usage accepted", chainOf(t, root.LeafWithUsage(t, id, x509.ExtKeyUsageServerAuth)), roots, exact, nil},
		{"no usage extension", chainOf(t, root.LeafWithUsage(t, id)), roots, exact, nil},
		{"no certificate", nil, roots, exact, ErrNoPeerCert},
		{"another CA", chainOf(t, other.Leaf(t, id)), roots, exact, ErrUntrusted},
		{"intermediate missing from the chain", chainOf(t, inter.Leaf(t, id))[:1], roots, exact, ErrUntrusted},
		{"no trust bundle", chainOf(t, root.Leaf(t, id)), nil, exact, ErrUntrusted},
		{"other identity", chainOf(t, root.Leaf(t, "spiffe://weft.test/ns/a/sa/c")), roots, exact, ErrSANMismatch},
		{"other trust domain", chainOf(t, root.Leaf(t, "spiffe://evil.test/ns/a/sa/b")), roots, SANPolicy{Prefixes: []string{"spiffe://weft.test/"}}, ErrSANMismatch},
		{"no URI SAN", chainOf(t, root.Leaf(t, "")), roots, exact, ErrSANMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPeer(tc.chain, tc.roots, tc.policy)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyPeer: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrNoPeerCert), ReasonNoClientCert},
		{fmt.Errorf("%w: bad", ErrUntrusted), ReasonUntrusted},
		{fmt.Errorf("%w: bad", ErrSANMismatch), ReasonSANMismatch},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonPlaintext},
		{errors.New("EOF"), ReasonOther},
	}
	for _, tc := range tests {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseBundle(t *testing.T) {
	a, b := testpki.NewCA(t, "a"), testpki.NewCA(t, "b")
	tests := []struct {
		name    string
		bundle  string
		wantNil bool
		wantErr string
	}{
		{"empty", "", true, ""},
		{"blank", " \n", true, ""},
		{"one", string(a.PEM), false, ""},
		{"two", string(a.PEM) + string(b.PEM), false, ""},
		{"garbage", "not pem", false, "no certificate found"},
		{"trailing garbage", string(a.PEM) + "junk", false, "trailing data"},
		{"key block", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", false, `unexpected PEM block "PRIVATE KEY"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := ParseBundle([]byte(tc.bundle))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || (pool == nil) != tc.wantNil {
				t.Fatalf("pool %v err %v", pool, err)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		name string
		p, q SANPolicy
		want bool
	}{
		{"any covers all", SANPolicy{}, SANPolicy{Exact: []string{"a"}}, true},
		{"exact does not cover any", SANPolicy{Exact: []string{"a"}}, SANPolicy{}, false},
		{"added identity", SANPolicy{Exact: []string{"a", "b"}}, SANPolicy{Exact: []string{"a"}}, true},
		{"removed identity", SANPolicy{Exact: []string{"a"}}, SANPolicy{Exact: []string{"a", "b"}}, false},
		{"prefix covers exact", SANPolicy{Prefixes: []string{"spiffe://t/"}}, SANPolicy{Exact: []string{"spiffe://t/x"}}, true},
		{"shorter prefix covers longer", SANPolicy{Prefixes: []string{"spiffe://t/"}}, SANPolicy{Prefixes: []string{"spiffe://t/ns/"}}, true},
		{"longer prefix does not cover shorter", SANPolicy{Prefixes: []string{"spiffe://t/ns/"}}, SANPolicy{Prefixes: []string{"spiffe://t/"}}, false},
	}
	for _, tc := range tests {
		if got := tc.p.Covers(tc.q); got != tc.want {
			t.Errorf("%s: Covers = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScopedSessionCacheFollowsTheTrustBundle(t *testing.T) {
	id := TrustID([]byte("bundle one"))
	c := ScopedSessionCache(tls.NewLRUClientSessionCache(4), func() string { return id })
	state := &tls.ClientSessionState{}
	c.Put("peer", state)
	if got, ok := c.Get("peer"); !ok || got != state {
		t.Fatalf("Get under the same bundle = %v, %v", got, ok)
	}
	id = TrustID([]byte("bundle two"))
	if _, ok := c.Get("peer"); ok {
		t.Fatal("a session stored under another trust bundle was offered")
	}
	if TrustID([]byte("a")) == TrustID([]byte("b")) || !SessionUnder([][]byte{[]byte("x"), []byte(id)}, id) || SessionUnder(nil, id) {
		t.Fatal("TrustID / SessionUnder do not tell bundles apart")
	}
}
