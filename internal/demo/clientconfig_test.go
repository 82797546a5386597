package demo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
)

var testClientConfig = &apiclient.ClientConfig{
	Server: "https://127.0.0.1:15080",
	XDS:    "127.0.0.1:15010",
	Token:  "secret",
	CA:     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}

func TestMayInstallConfig(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		want    bool
	}{
		{name: "no file", want: true},
		{name: "left by a previous demo", content: ptr(demoMarker + "\nserver: https://127.0.0.1:15080\n"), want: true},
		{name: "left by a previous demo, CRLF", content: ptr(demoMarker + "\r\nserver: x\r\n"), want: true},
		{name: "the user's", content: ptr("server: https://weftd.example:15080\ntoken: t\n"), want: false},
		{name: "the user's, marker not first", content: ptr("server: x\n" + demoMarker + "\n"), want: false},
		{name: "empty file", content: ptr(""), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".weft", "config.yaml")
			if tt.content != nil {
				writeFile(t, path, *tt.content)
			}
			got, err := mayInstallConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("mayInstallConfig = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInstallAndRemoveConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".weft", "config.yaml")
	written, err := installConfig(path, testClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %v, want 0600", perm)
	}
	// weft reads it like any client config, and the demo recognises it as its own.
	got, err := clientconfig.Load(path)
	if err != nil {
		t.Fatalf("clientconfig.Load: %v", err)
	}
	if diff := cmp.Diff(testClientConfig, got); diff != "" {
		t.Errorf("config read back (-want +got):\n%s", diff)
	}
	if ok, err := mayInstallConfig(path); err != nil || !ok {
		t.Errorf("mayInstallConfig(demo's own file) = %v, %v; want true", ok, err)
	}

	removed, err := removeConfig(path, written)
	if err != nil || !removed {
		t.Fatalf("removeConfig = %v, %v; want true, nil", removed, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("config still there after removeConfig: %v", err)
	}
	if removed, err := removeConfig(path, written); err != nil || removed {
		t.Errorf("removeConfig of a missing file = %v, %v; want false, nil", removed, err)
	}
}

// A config changed after the demo wrote it is not the demo's to remove.
func TestRemoveConfigKeepsChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	written, err := installConfig(path, testClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "server: https://weftd.example:15080\n")
	removed, err := removeConfig(path, written)
	if err != nil || removed {
		t.Errorf("removeConfig = %v, %v; want false, nil", removed, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("changed config was removed: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
