package tokens

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/weftmesh/weft/internal/testclock"
)

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newStore(t *testing.T) (*Store, *testclock.Clock, *bolt.DB) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "store.db"))
	t.Cleanup(func() { _ = db.Close() })
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s, err := Open(Config{Now: clk.Now}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, db
}

func mustCreate(t *testing.T, s *Store, ns, sa string, ttl time.Duration) (Token, string) {
	t.Helper()
	tok, secret, err := s.Create(CreateRequest{Namespace: ns, ServiceAccount: sa, TTL: ttl})
	if err != nil {
		t.Fatalf("Create(%s, %s, %v): %v", ns, sa, ttl, err)
	}
	return tok, secret
}

func TestCreateAndVerify(t *testing.T) {
	s, clk, _ := newStore(t)
	tok, secret := mustCreate(t, s, "shop", "web", 0)
	want := Token{ID: tok.ID, Namespace: "shop", ServiceAccount: "web", Created: clk.Now(), Expiry: clk.Now().Add(DefaultTTL)}
	if diff := cmp.Diff(want, tok); diff != "" {
		t.Errorf("created token (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(secret, Prefix+tok.ID+".") || !IsJoinToken(secret) {
		t.Errorf("token %q does not read %s<id>.<secret>", secret, Prefix)
	}
	got, err := s.Verify(secret)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verified token (-want +got):\n%s", diff)
	}

	// Two tokens for one identity are distinct.
	tok2, secret2 := mustCreate(t, s, "shop", "web", time.Hour)
	if tok2.ID == tok.ID || secret2 == secret {
		t.Errorf("two tokens share an ID or a secret: %s %s", tok.ID, tok2.ID)
	}
}

func TestVerifyRefusals(t *testing.T) {
	s, _, _ := newStore(t)
	tok, secret := mustCreate(t, s, "shop", "web", time.Hour)
	id, enc, _ := strings.Cut(strings.TrimPrefix(secret, Prefix), ".")
	other := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, secretBytes))
	tests := []struct {
		name   string
		bearer string
		reason error
		msg    string
	}{
		{"wrong secret", Prefix + id + "." + other, ErrUnknown, "join token " + tok.ID + " is not known to this weftd (or its secret is wrong)"},
		{"unknown ID", Prefix + "0123456789abcdef." + enc, ErrUnknown, "join token 0123456789abcdef is not known to this weftd (or its secret is wrong)"},
		{"no prefix", id + "." + enc, ErrMalformed, "malformed join token: want weft-jt.<id>.<secret>, as 'weft token create' prints it"},
		{"no secret", Prefix + id, ErrMalformed, ""},
		{"short secret", Prefix + id + "." + enc[:20], ErrMalformed, ""},
		{"secret not base64url", Prefix + id + "." + strings.Repeat("!", 43), ErrMalformed, ""},
		{"upper-case ID", Prefix + strings.ToUpper(id) + "." + enc, ErrMalformed, ""},
		{"ID not hex", Prefix + "zzzzzzzzzzzzzzzz." + enc, ErrMalformed, ""},
		{"empty", "", ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(tt.bearer)
			var inv *InvalidError
			if !errors.As(err, &inv) || !errors.Is(err, tt.reason) {
				t.Fatalf("Verify = %v, want an *InvalidError for %v", err, tt.reason)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), enc) || strings.Contains(err.Error(), other) {
				t.Errorf("the message %q holds the secret", err)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	s, clk, _ := newStore(t)
	tok, secret := mustCreate(t, s, "shop", "web", 10*time.Minute)
	clk.Advance(10*time.Minute - time.Second)
	if _, err := s.Verify(secret); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clk.Advance(time.Second)
	_, err := s.Verify(secret)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
	if want := "join token " + tok.ID + " expired at 2026-03-01T12:10:00Z"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestRevoke(t *testing.T) {
	s, clk, _ := newStore(t)
	tok, secret := mustCreate(t, s, "shop", "web", time.Hour)
	_, other := mustCreate(t, s, "shop", "web", time.Hour)
	clk.Advance(time.Minute)
	revoked, err := s.Revoke(tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(clk.Now()) || !revoked.Revoked() {
		t.Errorf("revoked token: %+v", revoked)
	}
	_, err = s.Verify(secret)
	if !errors.Is(err, ErrRevoked) || err.Error() != "join token "+tok.ID+" was revoked at 2026-03-01T12:01:00Z" {
		t.Errorf("Verify after revoke = %v", err)
	}
	if _, err := s.Verify(other); err != nil {
		t.Errorf("revoking one token affected another: %v", err)
	}

	// Revoking again keeps the first revocation time.
	clk.Advance(time.Minute)
	again, err := s.Revoke(tok.ID)
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("revoking twice: %+v, %v", again, err)
	}
	if _, err := s.Revoke("0123456789abcdef"); !errors.Is(err, ErrNotFound) || err.Error() != "join token not found: 0123456789abcdef" {
		t.Errorf("revoking an unknown ID: %v", err)
	}
}

func TestList(t *testing.T) {
	s, clk, _ := newStore(t)
	if items, err := s.List(); err != nil || len(items) != 0 {
		t.Fatalf("empty store: %v %v", items, err)
	}
	a, _ := mustCreate(t, s, "shop", "web", time.Hour)
	clk.Advance(time.Second)
	b, _ := mustCreate(t, s, "ops", "backup", 2*time.Hour)
	if _, err := s.Revoke(a.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Hour) // both expired: still listed
	items, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if diff := cmp.Diff([]string{a.ID, b.ID}, ids); diff != "" {
		t.Errorf("listed IDs, oldest first (-want +got):\n%s", diff)
	}
	if !items[0].Revoked() || items[1].Revoked() {
		t.Errorf("revocation not listed: %+v", items)
	}
}

func TestCreateRefusals(t *testing.T) {
	s, _, _ := newStore(t)
	tests := []struct {
		req CreateRequest
		msg string
	}{
		{CreateRequest{Namespace: "", ServiceAccount: "web"}, "invalid join token request: namespace must not be empty"},
		{CreateRequest{Namespace: "Shop", ServiceAccount: "web"}, `invalid join token request: namespace "Shop" is not a DNS label`},
		{CreateRequest{Namespace: "shop"}, "invalid join token request: a service account is required"},
		{CreateRequest{Namespace: "shop", ServiceAccount: "a/b"}, "invalid join token request: service account"},
		{CreateRequest{Namespace: "shop", ServiceAccount: "web", TTL: 59 * time.Second}, "invalid join token request: ttl 59s is out of range 1m0s to 720h0m0s (30 days)"},
		{CreateRequest{Namespace: "shop", ServiceAccount: "web", TTL: MaxTTL + time.Second}, "invalid join token request: ttl 720h0m1s is out of range"},
		{CreateRequest{Namespace: "shop", ServiceAccount: "web", TTL: -time.Hour}, "out of range"},
	}
	for _, tt := range tests {
		_, _, err := s.Create(tt.req)
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Create(%+v) = %v, want an ErrInvalidRequest containing %q", tt.req, err, tt.msg)
		}
	}
	if items, _ := s.List(); len(items) != 0 {
		t.Errorf("refused requests stored %d tokens", len(items))
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db := openDB(t, path)
	s, err := Open(Config{Now: clk.Now}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept, keptSecret := mustCreate(t, s, "shop", "web", time.Hour)
	gone, goneSecret := mustCreate(t, s, "shop", "db", time.Hour)
	if _, err := s.Revoke(gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	t.Cleanup(func() { _ = db.Close() })
	s, err = Open(Config{Now: clk.Now}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(keptSecret)
	if err != nil || got.ID != kept.ID || got.ServiceAccount != "web" {
		t.Errorf("after a restart: %+v, %v", got, err)
	}
	if _, err := s.Verify(goneSecret); !errors.Is(err, ErrRevoked) {
		t.Errorf("a revoked token after a restart: %v, want ErrRevoked", err)
	}
}

// TestOnlyTheHashIsStored reads the raw database: the secret appears nowhere, its SHA-256 does.
func TestOnlyTheHashIsStored(t *testing.T) {
	s, _, db := newStore(t)
	_, token := mustCreate(t, s, "shop", "web", time.Hour)
	_, enc, _ := strings.Cut(strings.TrimPrefix(token, Prefix), ".")
	secret, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(secret)
	var stored [][]byte
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			stored = append(stored, bytes.Clone(v))
			return nil
		})
	})
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored records: %d, %v", len(stored), err)
	}
	raw := stored[0]
	for _, leak := range [][]byte{secret, []byte(enc), []byte(base64.StdEncoding.EncodeToString(secret)), []byte(token)} {
		if bytes.Contains(raw, leak) {
			t.Errorf("the stored record %s holds the secret", raw)
		}
	}
	if !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(hash[:]))) {
		t.Errorf("the stored record %s does not hold the secret's SHA-256", raw)
	}
}

func TestOpenNeedsADatabase(t *testing.T) {
	if _, err := Open(Config{}, nil, nil); err == nil || err.Error() != "tokens: a database is required" {
		t.Errorf("Open(nil) = %v", err)
	}
}
