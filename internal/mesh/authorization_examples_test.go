package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The policies of examples/security/authz decode and validate.
func TestAuthorizationExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "security", "authz", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			raw, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i+1, err)
			}
			r, err := Decode(raw)
			if err != nil {
				t.Errorf("%s#%d: %v", f, i+1, err)
				continue
			}
			if r.Kind != KindAuthorizationPolicy {
				t.Errorf("%s#%d: a %s among the authorization examples", f, i+1, r.Kind)
			}
			if errs := Validate([]*Resource{r}, nil); len(errs) > 0 {
				t.Errorf("%s#%d: %v", f, i+1, errs)
			}
		}
	}
}
