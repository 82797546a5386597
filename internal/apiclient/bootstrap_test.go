package apiclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBootstrapRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name     string
		cfg      ClientConfig
		wantMode os.FileMode
	}{
		// As weftd writes it: no secret in it, readable by all.
		{"no-token.json", ClientConfig{Server: "https://127.0.0.1:15080", XDS: "127.0.0.1:15010", CA: "PEM\nlines\n"}, 0o644},
		// With a token it is a credential: owner only.
		{"token.json", ClientConfig{Server: "https://127.0.0.1:15080", XDS: "127.0.0.1:15010", Token: "admin", CA: "PEM\n"}, 0o600},
	} {
		path := filepath.Join(dir, tt.name)
		if err := WriteBootstrap(path, &tt.cfg); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != tt.wantMode {
			t.Errorf("%s: mode %v, want %v", tt.name, info.Mode().Perm(), tt.wantMode)
		}
		if data, _ := os.ReadFile(path); tt.cfg.Token == "" && strings.Contains(string(data), "token") {
			t.Errorf("%s: a bootstrap without a token mentions one:\n%s", tt.name, data)
		}
		got, err := LoadBootstrap(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&tt.cfg, got); diff != "" {
			t.Errorf("%s read back (-want +got):\n%s", tt.name, diff)
		}
	}
	// Rewriting a token-holding file without the token makes it public: the mode follows.
	path := filepath.Join(dir, "token.json")
	if err := WriteBootstrap(path, &ClientConfig{Server: "https://x", XDS: "x:1", CA: "c"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Errorf("rewritten without a token: mode %v, want 0644", info.Mode().Perm())
	}
}

func TestLoadBootstrapRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, content, wantErr string
	}{
		{"client.yaml", "server: https://127.0.0.1:15080\nxds: 127.0.0.1:15010\n", "is not a JSON proxy bootstrap"},
		{"unknown.json", `{"server": "https://x", "xdsAddress": "x:1"}`, `unknown field "xdsAddress"`},
		{"two.json", `{"server": "https://x"} {"xds": "x:1"}`, "data after the JSON object"},
		{"truncated.json", `{"server": "https://x"`, "parsing the proxy bootstrap"},
	}
	for _, tt := range tests {
		_, err := LoadBootstrap(write(tt.name, tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := LoadBootstrap(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
