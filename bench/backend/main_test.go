package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestServe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(serve))
	defer srv.Close()
	for _, path := range []string{"/", "/anything?x=1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || string(got) != "hello world\n" || len(got) != 12 {
			t.Errorf("GET %s = %d %q, want 200 with the 12-byte body", path, resp.StatusCode, got)
		}
		if cl := resp.Header.Get("Content-Length"); cl != "12" {
			t.Errorf("Content-Length = %q, want 12", cl)
		}
	}
}
