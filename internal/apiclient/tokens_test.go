package apiclient

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTokenAPI answers the token calls and records the requests.
type fakeTokenAPI struct {
	mu   sync.Mutex
	seen []string // "METHOD PATH AUTHORIZATION BODY"
}

func (f *fakeTokenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tok := JoinToken{ID: "0123456789abcdef", Namespace: "shop", ServiceAccount: "web", SPIFFEID: "spiffe://weft.local/ns/shop/sa/web",
		Created: created, Expiry: created.Add(time.Hour)}
	switch r.Method + " " + r.URL.Path {
	case "POST /v1/tokens":
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(CreateJoinTokenResponse{JoinToken: tok, Token: "weft-jt.0123456789abcdef.secret"})
	case "GET /v1/tokens":
		_ = json.NewEncoder(w).Encode(JoinTokenList{Items: []JoinToken{tok}})
	case "DELETE /v1/tokens/0123456789abcdef":
		tok.RevokedAt = &created
		_ = json.NewEncoder(w).Encode(tok)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"join token not found: x"}`))
	}
}

func TestTokenCalls(t *testing.T) {
	api := &fakeTokenAPI{}
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	cfg := &ClientConfig{Server: srv.URL, XDS: "127.0.0.1:1", Token: "admin-token",
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
	admin, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	created, err := admin.CreateJoinToken(t.Context(), &CreateJoinTokenRequest{Namespace: "shop", ServiceAccount: "web", TTLSeconds: 600})
	if err != nil || created.Token != "weft-jt.0123456789abcdef.secret" || created.ID != "0123456789abcdef" {
		t.Errorf("CreateJoinToken = %+v, %v", created, err)
	}
	list, err := admin.JoinTokens(t.Context())
	if err != nil || len(list) != 1 || list[0].SPIFFEID != "spiffe://weft.local/ns/shop/sa/web" {
		t.Errorf("JoinTokens = %+v, %v", list, err)
	}
	revoked, err := admin.RevokeJoinToken(t.Context(), "0123456789abcdef")
	if err != nil || revoked.RevokedAt == nil {
		t.Errorf("RevokeJoinToken = %+v, %v", revoked, err)
	}
	if _, err := admin.RevokeJoinToken(t.Context(), "ffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown token = %v, want ErrNotFound", err)
	}

	want := []string{
		`POST /v1/tokens Bearer admin-token {"namespace":"shop","serviceAccount":"web","ttlSeconds":600}`,
		"GET /v1/tokens Bearer admin-token ",
		"DELETE /v1/tokens/0123456789abcdef Bearer admin-token ",
		"DELETE /v1/tokens/ffffffffffffffff Bearer admin-token ",
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if diff := cmp.Diff(want, api.seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
