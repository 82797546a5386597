package demo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindModuleRoot(t *testing.T) {
	root := t.TempDir()
	weft := filepath.Join(root, "src", "weft")
	nested := filepath.Join(weft, "examples", "other")
	writeFile(t, filepath.Join(weft, "go.mod"), "// Weft\nmodule github.com/weftmesh/weft\n\ngo 1.26\n")
	writeFile(t, filepath.Join(nested, "go.mod"), "module example.com/other\n")
	deep := filepath.Join(nested, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	quoted := filepath.Join(root, "quoted")
	writeFile(t, filepath.Join(quoted, "go.mod"), "module \"github.com/weftmesh/weft\"\n")
	outside := filepath.Join(root, "elsewhere")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		dir     string
		want    string
		wantErr error
	}{
		{dir: weft, want: weft},
		{dir: filepath.Join(weft, "examples"), want: weft},
		{dir: deep, want: weft}, // through another module's go.mod
		{dir: quoted, want: quoted},
		{dir: outside, wantErr: errNotModule},
	}
	for _, tt := range tests {
		got, err := findModuleRoot(tt.dir)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("findModuleRoot(%s) error = %v, want %v", tt.dir, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("findModuleRoot(%s) = %q, %v; want %q", tt.dir, got, err, tt.want)
		}
	}
}

func TestModuleName(t *testing.T) {
	tests := map[string]string{
		"module github.com/weftmesh/weft\n":          "github.com/weftmesh/weft",
		"// c\n\nmodule\tgithub.com/weftmesh/weft\n": "github.com/weftmesh/weft",
		"modulex foo\nmodule bar\n":                  "bar",
		"go 1.26\n":                                  "",
	}
	for in, want := range tests {
		got, err := moduleName(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("moduleName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestBinariesInAndOnPath(t *testing.T) {
	dir := t.TempDir()
	writeExec(t, filepath.Join(dir, "weftd"))
	writeExec(t, filepath.Join(dir, "weft-proxy"))
	writeFile(t, filepath.Join(dir, "demo-app"), "not executable") // mode 0600

	b, missing := binariesIn(dir)
	if diff := cmp.Diff([]string{"demo-app"}, missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if b.Weftd != filepath.Join(dir, "weftd") || b.Proxy != filepath.Join(dir, "weft-proxy") {
		t.Errorf("binaries = %+v", b)
	}

	if err := os.Chmod(filepath.Join(dir, "demo-app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, missing := binariesIn(dir); len(missing) != 0 {
		t.Errorf("missing = %v, want none", missing)
	}

	lookPath := func(name string) (string, error) {
		if name == "weft-proxy" {
			return "", exec.ErrNotFound
		}
		return "/opt/bin/" + name, nil
	}
	b, missing = binariesOnPath(lookPath)
	if diff := cmp.Diff([]string{"weft-proxy"}, missing); diff != "" {
		t.Errorf("missing on PATH (-want +got):\n%s", diff)
	}
	if b.App != "/opt/bin/demo-app" || b.Weftd != "/opt/bin/weftd" {
		t.Errorf("binaries on PATH = %+v", b)
	}
}

func writeExec(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
