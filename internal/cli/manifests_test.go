package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftmesh/weft/internal/manifest"
)

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		sources []string
		wantErr string
	}{
		{name: "single", in: "kind: Service\nmetadata: {name: a}\n", sources: []string{"f.yaml"}},
		{name: "multi with blank and comment-only docs", in: "---\nkind: Service\n---\n# only a comment\n---\nkind: Mesh\n", sources: []string{"f.yaml#2", "f.yaml#4"}},
		{name: "bad yaml names document", in: "kind: Service\n---\nkind: [unclosed\n", wantErr: "f.yaml#2: invalid YAML"},
		{name: "scalar document refused", in: "just a string\n", wantErr: "f.yaml: a resource must be a mapping"},
		{name: "separator with trailing spaces", in: "kind: A\n---   \nkind: B\n", sources: []string{"f.yaml#1", "f.yaml#2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := manifest.Split("f.yaml", []byte(tt.in), false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, d.Source)
				if !strings.HasPrefix(string(d.JSON), "{") {
					t.Errorf("%s: JSON = %s", d.Source, d.JSON)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.sources, ",") {
				t.Errorf("sources = %v, want %v", got, tt.sources)
			}
		})
	}
}

func TestReadManifestsDirectoryAndStdin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "kind: B\n")
	write("a.yml", "kind: A\n")
	write("notes.txt", "kind: ignored\n")
	docs, err := readManifests([]string{dir, "-"}, strings.NewReader("kind: C\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, filepath.Base(d.Source)+"="+string(d.JSON))
	}
	want := []string{`a.yml={"kind":"A"}`, `b.yaml={"kind":"B"}`, `<stdin>={"kind":"C"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}

	if _, err := readManifests([]string{filepath.Join(dir, "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file error = %v", err)
	}
	empty := t.TempDir()
	if _, err := readManifests([]string{empty}, nil); err == nil || !strings.Contains(err.Error(), "holds no .yaml") {
		t.Errorf("empty dir error = %v", err)
	}
}

func TestLookupKind(t *testing.T) {
	for in, want := range map[string]string{"svc": "services", "Service": "services", "HTTPRoute": "httproutes", "wl": "workloads", "meshes": "meshes"} {
		k, err := lookupKind(in)
		if err != nil || k.Plural != want {
			t.Errorf("lookupKind(%q) = %v, %v; want %s", in, k.Plural, err, want)
		}
	}
	if _, err := lookupKind("virtualservice"); err == nil || !strings.Contains(err.Error(), "known kinds are") {
		t.Errorf("unknown kind error = %v", err)
	}
}
