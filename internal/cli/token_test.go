package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
)

// fakeTokens is weftd's token API as the CLI sees it.
type fakeTokens struct {
	mu       sync.Mutex
	requests []apiclient.CreateJoinTokenRequest
	revoked  []string
}

func (f *fakeTokens) handler() http.Handler {
	created := time.Now().UTC().Truncate(time.Second)
	tok := apiclient.JoinToken{ID: "0123456789abcdef", Namespace: "shop", ServiceAccount: "web",
		SPIFFEID: "spiffe://weft.local/ns/shop/sa/web", Created: created, Expiry: created.Add(2 * time.Hour)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req apiclient.CreateJoinTokenRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(apiclient.CreateJoinTokenResponse{JoinToken: tok, Token: "weft-jt.0123456789abcdef.SECRET"})
	})
	mux.HandleFunc("GET /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		expired := tok
		expired.ID, expired.Expiry = "fedcba9876543210", created.Add(-3*time.Hour)
		revoked := tok
		at := created.Add(-5 * time.Minute)
		revoked.ID, revoked.RevokedAt = "00000000000000aa", &at
		_ = json.NewEncoder(w).Encode(apiclient.JoinTokenList{Items: []apiclient.JoinToken{tok, expired, revoked}})
	})
	mux.HandleFunc("DELETE /v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != tok.ID {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"join token not found: ` + r.PathValue("id") + `"}`))
			return
		}
		f.mu.Lock()
		f.revoked = append(f.revoked, r.PathValue("id"))
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(tok)
	})
	return mux
}

// runWeft runs the CLI against a fake weftd and returns stdout, stderr and the error.
func runWeft(t *testing.T, api http.Handler, args ...string) (string, string, error) {
	t.Helper()
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "client.yaml")
	err := clientconfig.Write(path, &apiclient.ClientConfig{Server: srv.URL, XDS: "127.0.0.1:1", Token: "admin",
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	root := NewRoot(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(append([]string{"--config", path}, args...))
	err = root.Execute()
	return stdout.String(), stderr.String(), err
}

func TestTokenCreate(t *testing.T) {
	f := &fakeTokens{}
	stdout, stderr, err := runWeft(t, f.handler(), "token", "create", "-n", "shop", "--service-account", "web", "--ttl", "2h")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "weft-jt.0123456789abcdef.SECRET\n" {
		t.Errorf("stdout %q, want the token alone", stdout)
	}
	if !strings.Contains(stderr, "Join token 0123456789abcdef grants spiffe://weft.local/ns/shop/sa/web until ") ||
		!strings.Contains(stderr, "(in 1h)") || !strings.Contains(stderr, "shown only this once") || strings.Contains(stderr, "SECRET") {
		t.Errorf("stderr %q", stderr)
	}

	stdout, _, err = runWeft(t, f.handler(), "token", "create", "--service-account", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got apiclient.CreateJoinTokenResponse
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.Token != "weft-jt.0123456789abcdef.SECRET" || got.ID != "0123456789abcdef" {
		t.Errorf("-o json: %s (%v)", stdout, err)
	}
	want := []apiclient.CreateJoinTokenRequest{
		{Namespace: "shop", ServiceAccount: "web", TTLSeconds: 7200},
		{Namespace: "default", ServiceAccount: "web", TTLSeconds: 3600},
	}
	if diff := cmp.Diff(want, f.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestTokenCreateRefusals(t *testing.T) {
	f := &fakeTokens{}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-n", "shop"}, "--service-account is required: the token grants the identity of that service account"},
		{[]string{"--service-account", "web", "--ttl", "30s"}, "--ttl 30s is out of range 1m to 720h (30 days)"},
		{[]string{"--service-account", "web", "--ttl", "721h"}, "--ttl 721h0m0s is out of range 1m to 720h (30 days)"},
		{[]string{"--service-account", "web", "--ttl", "90.5s"}, "--ttl 1m30.5s: give a whole number of seconds"},
		{[]string{"--service-account", "web", "-o", "table"}, `unknown output format "table": use json or yaml`},
	}
	for _, tt := range tests {
		_, _, err := runWeft(t, f.handler(), append([]string{"token", "create"}, tt.args...)...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("weft token create %v: %v, want %q", tt.args, err, tt.want)
		}
	}
	if len(f.requests) != 0 {
		t.Errorf("refused commands sent %d requests", len(f.requests))
	}
}

func TestTokenList(t *testing.T) {
	f := &fakeTokens{}
	stdout, _, err := runWeft(t, f.handler(), "token", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("table:\n%s", stdout)
	}
	for i, want := range [][]string{
		{"0123456789abcdef", "spiffe://weft.local/ns/shop/sa/web", "in 1h", "valid"},
		{"fedcba9876543210", "ago", "expired"},
		{"00000000000000aa", "revoked 5m ago"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	stdout, _, err = runWeft(t, f.handler(), "token", "list", "-o", "json")
	var list apiclient.JoinTokenList
	if err != nil || json.Unmarshal([]byte(stdout), &list) != nil || len(list.Items) != 3 {
		t.Errorf("-o json: %s (%v)", stdout, err)
	}
}

func TestTokenRevoke(t *testing.T) {
	f := &fakeTokens{}
	stdout, _, err := runWeft(t, f.handler(), "token", "revoke", "0123456789abcdef")
	if err != nil || stdout != "join token 0123456789abcdef (spiffe://weft.local/ns/shop/sa/web) revoked\n" {
		t.Errorf("revoke: %q, %v", stdout, err)
	}
	_, _, err = runWeft(t, f.handler(), "token", "revoke", "ffffffffffffffff")
	if err == nil || err.Error() != `revoking join token "ffffffffffffffff": join token not found: ffffffffffffffff` {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if diff := cmp.Diff([]string{"0123456789abcdef"}, f.revoked); diff != "" {
		t.Errorf("revoked (-want +got):\n%s", diff)
	}
}
