package demo

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Every file the demo names is embedded, and every embedded file is named: a YAML file added
// to this directory must be wired into the demo (or deliberately left out here).
func TestFilesAreEmbedded(t *testing.T) {
	named := map[string]bool{}
	for _, f := range append(BaseFiles(), NextFiles()...) {
		if named[f] {
			t.Errorf("%s is named twice", f)
		}
		named[f] = true
		data, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	embedded, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range embedded {
		if !named[f] {
			t.Errorf("%s is embedded but neither a base nor a next file", f)
		}
	}
}

// The YAML must have the shape of the API types: a field misspelt or misplaced fails here,
// before weftd would refuse it.
func TestYAMLMatchesTypes(t *testing.T) {
	for _, f := range append(BaseFiles(), NextFiles()...) {
		data, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i+1, err)
			}
			var head struct {
				APIVersion, Kind string
			}
			if err := json.Unmarshal(j, &head); err != nil {
				t.Fatalf("%s#%d: %v", f, i+1, err)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "mesh.weft.dev/v1alpha1 Mesh":
				obj = &v1alpha1.Mesh{}
			case "mesh.weft.dev/v1alpha1 Service":
				obj = &v1alpha1.Service{}
			case "gateway.networking.k8s.io/v1 Gateway":
				obj = &gatewayv1.Gateway{}
			case "gateway.networking.k8s.io/v1 HTTPRoute":
				obj = &gatewayv1.HTTPRoute{}
			default:
				t.Fatalf("%s#%d: unexpected %s %s", f, i+1, head.APIVersion, head.Kind)
			}
			dec := json.NewDecoder(bytes.NewReader(j))
			dec.DisallowUnknownFields()
			if err := dec.Decode(obj); err != nil {
				t.Errorf("%s#%d (%s): %v", f, i+1, head.Kind, err)
			}
		}
	}
}
