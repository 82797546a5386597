package mesh

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// mustJSON converts a YAML fixture to JSON.
func mustJSON(t *testing.T, doc string) []byte {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	return raw
}

// mustDecode decodes a YAML fixture that must be valid.
func mustDecode(t *testing.T, doc string) *Resource {
	t.Helper()
	r, err := Decode(mustJSON(t, doc))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return r
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name    string
		raw     string // JSON
		wantErr string
	}{
		{"not an object", `[1]`, "a resource must be a JSON object with apiVersion, kind, metadata and spec"},
		{"empty", ``, "a resource must be a JSON object"},
		{"no apiVersion", `{"kind":"Service","metadata":{"name":"a"}}`,
			"Service a: apiVersion: is required; supported: mesh.weft.dev/v1alpha1 Mesh, mesh.weft.dev/v1alpha1 Service, gateway.networking.k8s.io/v1 HTTPRoute, gateway.networking.k8s.io/v1 Gateway"},
		{"no kind", `{"apiVersion":"mesh.weft.dev/v1alpha1","metadata":{"name":"a"}}`, "kind: is required; supported: "},
		{"unknown apiVersion", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"}}`,
			`Deployment a: apiVersion: "apps/v1" is not supported; supported: mesh.weft.dev/v1alpha1 Mesh`},
		{"unknown kind", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Widget","metadata":{"name":"a"}}`,
			`Widget a: kind: "Widget" is not supported in mesh.weft.dev/v1alpha1; supported: `},
		{"gateway kind under the weft group", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"a"}}`,
			`kind: "HTTPRoute" is not supported in mesh.weft.dev/v1alpha1`},
		{"unknown spec field", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"prots":[]}}`,
			`Service default/a: unknown field "prots"`},
		{"unknown top-level field", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{},"extra":1}`,
			`unknown field "extra"`},
		{"unknown route field", `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r","namespace":"shop"},"spec":{"rules":[{"backendRef":[]}]}}`,
			`HTTPRoute shop/r: unknown field "backendRef"`},
		{"wrong type", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":"80"}]}}`,
			`Service default/a: spec.ports.port: cannot use a JSON string here (want int32)`},
		{"missing name", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{},"spec":{}}`,
			`Service: metadata.name: is required`},
		{"missing metadata", `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","spec":{}}`,
			`Gateway: metadata.name: is required`},
		{"namespaced Mesh", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default","namespace":"x"},"spec":{}}`,
			`Mesh x/default: metadata.namespace: Mesh is cluster-scoped: remove the namespace`},
		{"trailing data", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"}} {}`,
			`invalid JSON at offset 85: invalid character '{' after top-level value`},
		{"bad JSON", `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},}`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.raw))
			if err == nil {
				t.Fatalf("Decode() = %+v, want an error", r)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeFillsDefaultsAndClearsServerFields(t *testing.T) {
	svc := mustDecode(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: backend, generation: 7, resourceVersion: "42", creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  ports: [{port: 80}]
`)
	if got := svc.Key(); got != (Key{Kind: KindService, Namespace: "default", Name: "backend"}) {
		t.Errorf("key = %v", got)
	}
	s := svc.Object.(*v1alpha1.Service)
	if s.Spec.Ports[0].AppProtocol != v1alpha1.ProtocolHTTP {
		t.Errorf("appProtocol = %q, want the default http", s.Spec.Ports[0].AppProtocol)
	}
	if s.Metadata.Namespace != "default" {
		t.Errorf("namespace = %q, want default", s.Metadata.Namespace)
	}
	if m := svc.StoreMeta(); m != (StoreMeta{}) {
		t.Errorf("store metadata %+v kept from user input", m)
	}

	route := mustDecode(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, uid: abc, generation: 3}
spec:
  parentRefs: [{kind: Service, name: backend}, {name: edge}]
  rules:
  - backendRefs: [{name: backend, port: 80}]
  - matches: [{headers: [{name: x-canary, value: "1"}]}]
    backendRefs: [{name: backend, port: 80, weight: 0}]
status:
  parents: []
`)
	r := route.Object.(*gatewayv1.HTTPRoute)
	want := `{"kind":"HTTPRoute","apiVersion":"gateway.networking.k8s.io/v1","metadata":{"name":"r","namespace":"default"},"spec":{"parentRefs":[` +
		`{"group":"","kind":"Service","name":"backend"},{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"edge"}],` +
		`"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"group":"","kind":"Service","name":"backend","port":80,"weight":1}]},` +
		`{"matches":[{"path":{"type":"PathPrefix","value":"/"},"headers":[{"type":"Exact","name":"x-canary","value":"1"}]}],` +
		`"backendRefs":[{"group":"","kind":"Service","name":"backend","port":80,"weight":0}]}]},"status":{"parents":null}}`
	got, err := route.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("defaulted route (-want +got):\n%s", diff)
	}
	if r.UID != "" || r.Generation != 0 {
		t.Errorf("server-side metadata kept: uid %q generation %d", r.UID, r.Generation)
	}
}

func TestDecodeStoredKeepsStoreMeta(t *testing.T) {
	for _, doc := range []string{
		`{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"a","generation":2,"resourceVersion":"9","creationTimestamp":"2024-05-01T10:00:00Z"},"spec":{"ports":[{"port":80}]}}`,
		`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"a","generation":2,"resourceVersion":"9","creationTimestamp":"2024-05-01T10:00:00Z"},"spec":{"gatewayClassName":"weft","listeners":[]}}`,
	} {
		r, err := DecodeStored([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		m := r.StoreMeta()
		if m.Generation != 2 || m.ResourceVersion != "9" || m.CreationTimestamp.Format("2006-01-02T15:04:05Z07:00") != "2024-05-01T10:00:00Z" {
			t.Errorf("%s: store metadata = %+v", r.Kind, m)
		}
		// Round trip through Encode.
		raw, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeStored(raw)
		if err != nil {
			t.Fatal(err)
		}
		if again.StoreMeta() != m || !again.SpecEqual(r) || !again.MetaEqual(r) {
			t.Errorf("%s: round trip changed the resource: %s", r.Kind, raw)
		}
	}
}

func TestLookupKind(t *testing.T) {
	tests := map[string]string{
		"services": KindService, "Service": KindService, "svc": KindService, "SERVICES": KindService,
		"meshes": KindMesh, "mesh": KindMesh, "httproutes": KindHTTPRoute, "HTTPRoute": KindHTTPRoute,
		"gateways": KindGateway, "gw": KindGateway, "pods": "",
	}
	for in, want := range tests {
		info, ok := LookupKind(in)
		if ok != (want != "") || info.Kind != want {
			t.Errorf("LookupKind(%q) = %q, %v; want %q", in, info.Kind, ok, want)
		}
	}
}
