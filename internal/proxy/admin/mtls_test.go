package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/wire"
)

func TestPlaintextReport(t *testing.T) {
	seen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	report := wire.PlaintextReport{
		Now: seen.Add(30 * time.Second),
		Sources: []wire.PlaintextSource{{
			Address: "127.0.0.1", Listener: "inbound", Port: 8080, Count: 12,
			FirstSeen: seen.Add(-time.Hour), LastSeen: seen,
		}},
	}
	cfg := validConfig()
	cfg.Plaintext = func() wire.PlaintextReport { return report }
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mtls/plaintext", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /mtls/plaintext = %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var got wire.PlaintextReport
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	if diff := cmp.Diff(report, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	// Only GET, and a proxy without a data plane report answers 404.
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mtls/plaintext", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /mtls/plaintext = %d, want 405", rec.Code)
	}
	bare, err := New(validConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mtls/plaintext", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without a report: GET /mtls/plaintext = %d, want 404", rec.Code)
	}
}
