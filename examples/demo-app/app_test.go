package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// downstream starts a test server answering GET / with status and body.
func downstream(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// stalled starts a test server that never answers before the caller gives up.
func stalled(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func TestRoot(t *testing.T) {
	leaf := `{"service":"purchase-history","version":"v1","calls":[]}`
	okURL := downstream(t, http.StatusOK, leaf+"\n")
	failURL := downstream(t, http.StatusBadGateway, `{"error":"boom"}`)
	textURL := downstream(t, http.StatusOK, "hello")
	slowURL := stalled(t)

	tests := []struct {
		name       string
		calls      []string
		wantStatus int
		wantCalls  []string
		wantError  []string // substrings of the "error" field
	}{
		{name: "leaf", wantStatus: http.StatusOK, wantCalls: []string{}},
		{name: "one downstream", calls: []string{okURL}, wantStatus: http.StatusOK, wantCalls: []string{leaf}},
		{name: "two downstreams", calls: []string{okURL, okURL}, wantStatus: http.StatusOK, wantCalls: []string{leaf, leaf}},
		{name: "downstream fails", calls: []string{okURL, failURL}, wantStatus: http.StatusBadGateway,
			wantCalls: []string{leaf}, wantError: []string{failURL, "502", "boom"}},
		{name: "downstream not JSON", calls: []string{textURL}, wantStatus: http.StatusBadGateway,
			wantCalls: []string{}, wantError: []string{textURL, "not JSON"}},
		{name: "downstream too slow", calls: []string{slowURL}, wantStatus: http.StatusBadGateway,
			wantCalls: []string{}, wantError: []string{slowURL, "Timeout"}},
		{name: "downstream unreachable", calls: []string{"http://127.0.0.1:1/"}, wantStatus: http.StatusBadGateway,
			wantCalls: []string{}, wantError: []string{"http://127.0.0.1:1/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newApp(config{Name: "web-api", Version: "v2", Calls: tt.calls, Timeout: 200 * time.Millisecond})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got answer
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
			}
			if got.Service != "web-api" || got.Version != "v2" {
				t.Errorf("service, version = %q, %q; want web-api, v2", got.Service, got.Version)
			}
			var calls []string
			for _, c := range got.Calls {
				calls = append(calls, string(c))
			}
			if calls == nil {
				calls = []string{}
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if len(tt.wantError) == 0 && got.Error != "" {
				t.Errorf("unexpected error field %q", got.Error)
			}
			for _, s := range tt.wantError {
				if !strings.Contains(got.Error, s) {
					t.Errorf("error %q does not contain %q", got.Error, s)
				}
			}
		})
	}
}

func TestHealthzCountsAndDelay(t *testing.T) {
	h := newApp(config{Name: "x", Timeout: time.Second})
	for path, want := range map[string]int{"/": 200, "/any/path": 200, "/?delay=1ms": 200, "/?delay=forever": 400, "/?delay=11s": 400} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var got health
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("/healthz: %v: %s", err, rec.Body)
	}
	if got != (health{Status: "ok", InFlight: 0, Requests: 5}) {
		t.Errorf("/healthz = %+v, want 5 requests and none in flight", got)
	}
}

func TestStringList(t *testing.T) {
	var l stringList
	for _, v := range []string{"http://a/", "http://b/, http://c/", ""} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"http://a/", "http://b/", "http://c/"}, []string(l)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
