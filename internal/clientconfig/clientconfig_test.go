package clientconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/apiclient"
)

// The file weftd writes for the CLI holds the admin token: without one it is incomplete.
func TestLoadWithoutToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-token.yaml")
	if err := os.WriteFile(path, []byte("server: https://127.0.0.1:15080\nxds: 127.0.0.1:15010\nca: |\n  x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "token is required") {
		t.Errorf("Load without a token = %v, want it refused", err)
	}
}

func TestWriteThenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config.yaml")
	want := &apiclient.ClientConfig{Server: "https://127.0.0.1:15080", XDS: "127.0.0.1:15010", Token: "admin", CA: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file holds the admin token", info.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}
