package mesh

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateMeshCertificatesAndCA(t *testing.T) {
	mesh := func(spec string) string {
		return "apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: " + spec + "\n"
	}
	tests := []struct {
		name string
		spec string
		want []string
	}{
		{"lifetime", "{certificates: {lifetime: 12h}}", nil},
		{"short lifetime for tests", "{certificates: {lifetime: 2s}}", nil},
		{"longest lifetime", "{certificates: {lifetime: 2160h}}", nil},
		{"lifetime not a duration", "{certificates: {lifetime: 1d}}",
			[]string{`Mesh default: spec.certificates.lifetime: "1d" is not a duration (e.g. "24h" or "90m")`}},
		{"lifetime too short", "{certificates: {lifetime: 1500ms}}",
			[]string{`Mesh default: spec.certificates.lifetime: 1500ms is shorter than 2s`}},
		{"lifetime too long", "{certificates: {lifetime: 2161h}}",
			[]string{`Mesh default: spec.certificates.lifetime: 2161h is longer than 90 days (2160h)`}},
		{"builtin", "{ca: {type: builtin}}", nil},
		{"builtin with files", "{ca: {type: builtin, files: {certFile: /pki/ca.pem, keyFile: /pki/ca-key.pem, rootFile: /pki/root.pem}}}",
			[]string{`Mesh default: spec.ca.files: is not allowed with type builtin: the built-in CA keeps its root in weftd's data directory`}},
		{"files", "{ca: {type: files, files: {certFile: /pki/ca.pem, keyFile: /pki/ca-key.pem, chainFile: /pki/chain.pem, rootFile: /pki/root.pem}}}", nil},
		{"files without chain", "{ca: {type: files, files: {certFile: /pki/ca.pem, keyFile: /pki/ca-key.pem, rootFile: /pki/root.pem}}}", nil},
		{"files missing", "{ca: {type: files}}",
			[]string{`Mesh default: spec.ca.files: is required with type files: certFile, keyFile and rootFile (chainFile if the CA is not signed by the root itself)`}},
		{"files incomplete", "{ca: {type: files, files: {certFile: pki/ca.pem, chainFile: chain.pem}}}",
			[]string{
				`Mesh default: spec.ca.files.certFile: "pki/ca.pem" must be an absolute path on weftd's machine`,
				`Mesh default: spec.ca.files.keyFile: is required`,
				`Mesh default: spec.ca.files.chainFile: "chain.pem" must be an absolute path on weftd's machine`,
				`Mesh default: spec.ca.files.rootFile: is required`,
			}},
		{"no type", "{ca: {}}", []string{`Mesh default: spec.ca.type: is required: builtin or files`}},
		{"unknown type", "{ca: {type: vault}}", []string{`Mesh default: spec.ca.type: "vault" is not supported; use builtin or files`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Validate([]*Resource{mustDecode(t, mesh(tt.spec))}, nil) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCertificateLifetime(t *testing.T) {
	if got := CertificateLifetime(DefaultMesh()); got != 24*time.Hour {
		t.Errorf("default lifetime = %s, want 24h", got)
	}
	m := mustDecode(t, "apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: {certificates: {lifetime: 90s}}\n")
	if got := CertificateLifetime(MeshFrom(m)); got != 90*time.Second {
		t.Errorf("lifetime = %s, want 90s", got)
	}
}
