package h2

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsGRPC(t *testing.T) {
	tests := map[string]bool{
		"application/grpc":           true,
		"application/grpc+proto":     true,
		"application/grpc;charset=x": true,
		"application/grpc-web":       false,
		"application/json":           false,
		"":                           false,
		"application/grpcx":          false,
		"application/grpc-web+proto": false,
		"application/grpc+json; q=1": true,
	}
	for ct, want := range tests {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set("Content-Type", ct)
		if got := isGRPC(r); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestLocalAnswer(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		status      int
		wantStatus  int
		wantGRPC    string
	}{
		{"plain 404", "", 404, 404, ""},
		{"plain 503", "text/plain", 503, 503, ""},
		{"grpc no route", "application/grpc", 404, 200, "12"},
		{"grpc no endpoint", "application/grpc+proto", 503, 200, "14"},
		{"grpc direct 500", "application/grpc", 500, 200, "2"},
		{"grpc forbidden", "application/grpc", 403, 200, "7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/svc/M", nil)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			localAnswer(w, r, tc.status, "no luck: 100%")
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Header().Get("Grpc-Status"); got != tc.wantGRPC {
				t.Fatalf("grpc-status %q, want %q", got, tc.wantGRPC)
			}
			if tc.wantGRPC != "" {
				if got := w.Header().Get("Grpc-Message"); got != "no luck: 100%25" {
					t.Fatalf("grpc-message %q", got)
				}
				if w.Body.Len() != 0 {
					t.Fatalf("a trailers-only gRPC answer has no body, got %q", w.Body.String())
				}
			}
		})
	}
}

func TestEncodeGRPCMessage(t *testing.T) {
	tests := map[string]string{
		"plain":       "plain",
		"50%":         "50%25",
		"line\nbreak": "line%0Abreak",
		"café":        "caf%C3%A9",
	}
	for in, want := range tests {
		if got := encodeGRPCMessage(in); got != want {
			t.Errorf("encodeGRPCMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForwarderLocalStatus(t *testing.T) {
	var observed []int
	f, err := NewForwarder(ForwarderConfig{
		Resolve: func(r *http.Request) Target { return Target{Status: 418} },
		Observe: func(s int) { observed = append(observed, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 418 || len(observed) != 1 || observed[0] != 418 {
		t.Fatalf("status %d, observed %v", w.Code, observed)
	}
	if _, err := NewForwarder(ForwarderConfig{}); err == nil {
		t.Fatal("NewForwarder without Resolve succeeded")
	}
}

func TestTrailersOnlyResponseIsNotFlushed(t *testing.T) {
	tests := []struct {
		name        string
		grpcStatus  string
		wantFlushed bool
	}{
		{"ordinary response", "", true},
		{"gRPC trailers-only response", "12", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &statusWriter{ResponseWriter: rec}
			if tc.grpcStatus != "" {
				w.Header().Set("Grpc-Status", tc.grpcStatus)
			}
			w.WriteHeader(200)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Fatal(err)
			}
			if rec.Flushed != tc.wantFlushed {
				t.Fatalf("flushed %v, want %v", rec.Flushed, tc.wantFlushed)
			}
			if w.status != 200 {
				t.Fatalf("recorded status %d", w.status)
			}
		})
	}
}
