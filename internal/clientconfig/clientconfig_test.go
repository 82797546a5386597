package clientconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/apiclient"
)

func TestLoadWithToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noToken := write("no-token.yaml", "server: https://127.0.0.1:15080\nxds: 127.0.0.1:15010\nca: |\n  x\n")
	withToken := write("token.yaml", "server: https://127.0.0.1:15080\nxds: 127.0.0.1:15010\ntoken: admin-secret\nca: x\n")
	noServer := write("no-server.yaml", "xds: 127.0.0.1:15010\nca: x\n")

	for _, path := range []string{noToken, withToken} {
		cfg, err := LoadWithToken(path, "weft-jt.abc.def")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if cfg.Token != "weft-jt.abc.def" || cfg.Server != "https://127.0.0.1:15080" || cfg.XDS != "127.0.0.1:15010" {
			t.Errorf("%s: %+v", path, cfg)
		}
	}
	if _, err := Load(noToken); err == nil || !strings.Contains(err.Error(), "token is required") {
		t.Errorf("Load without a token = %v, want it refused", err)
	}
	if _, err := LoadWithToken(noToken, " "); err == nil || err.Error() != "the bearer token is empty" {
		t.Errorf("an empty token = %v", err)
	}
	if _, err := LoadWithToken(noServer, "weft-jt.abc.def"); err == nil || !strings.Contains(err.Error(), "server is required") {
		t.Errorf("a config without a server = %v", err)
	}
	if _, err := LoadWithToken(filepath.Join(dir, "missing.yaml"), "weft-jt.abc.def"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file = %v", err)
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
