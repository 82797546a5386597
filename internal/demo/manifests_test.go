package demo

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	demoyaml "github.com/weftmesh/weft/examples/demo"
	"github.com/weftmesh/weft/internal/manifest"
)

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantSources []string
		wantJSON    []string
		wantErr     string
	}{
		{
			name:        "one document",
			in:          "kind: Service\nmetadata:\n  name: a\n",
			wantSources: []string{"f.yaml#1"},
			wantJSON:    []string{`{"kind":"Service","metadata":{"name":"a"}}`},
		},
		{
			name:        "comments and empty documents are skipped, positions kept",
			in:          "# header\n---\nkind: A\n---\n\n---   \nkind: B\n--- \n# trailing\n",
			wantSources: []string{"f.yaml#2", "f.yaml#4"},
			wantJSON:    []string{`{"kind":"A"}`, `{"kind":"B"}`},
		},
		{
			name:        "leading separator",
			in:          "---\nkind: A\n",
			wantSources: []string{"f.yaml#2"},
			wantJSON:    []string{`{"kind":"A"}`},
		},
		{
			name:    "invalid YAML names the document",
			in:      "kind: A\n---\nkind: [B\n",
			wantErr: "f.yaml#2: invalid YAML",
		},
		{
			name:    "a list is not a resource",
			in:      "- a\n- b\n",
			wantErr: "f.yaml#1: a resource must be a mapping",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := manifest.Split("f.yaml", []byte(tt.in), true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sources, docs []string
			for _, m := range got {
				sources = append(sources, m.Source)
				docs = append(docs, string(m.JSON))
			}
			if diff := cmp.Diff(tt.wantSources, sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantJSON, docs); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPatchGatewayPort(t *testing.T) {
	gw := func(ns string, ports ...int) string {
		var l []string
		for i, p := range ports {
			l = append(l, `{"name":"l`+string(rune('a'+i))+`","protocol":"HTTP","port":`+itoa(p)+`}`)
		}
		meta := `"name":"ingress"`
		if ns != "" {
			meta += `,"namespace":"` + ns + `"`
		}
		return `{"kind":"Gateway","metadata":{` + meta + `},"spec":{"gatewayClassName":"weft","listeners":[` + strings.Join(l, ",") + `]}}`
	}
	tests := []struct {
		name        string
		in          string
		wantGateway bool
		wantPorts   []float64 // listener ports after the patch; nil: unchanged document
		wantErr     string
	}{
		{name: "moves the listener", in: gw("default", 8080), wantGateway: true, wantPorts: []float64{9090}},
		{name: "namespace defaults to default", in: gw("", 8080), wantGateway: true, wantPorts: []float64{9090}},
		{name: "only the listener on the demo port", in: gw("default", 8443, 8080), wantGateway: true, wantPorts: []float64{8443, 9090}},
		{name: "another namespace is left alone", in: gw("prod", 8080)},
		{name: "another kind is left alone", in: `{"kind":"Service","metadata":{"name":"ingress"}}`},
		{name: "another gateway is left alone", in: `{"kind":"Gateway","metadata":{"name":"edge"},"spec":{"listeners":[{"port":8080}]}}`},
		{name: "no listener on the port", in: gw("default", 80), wantGateway: true, wantErr: "no listener on port 8080"},
		{name: "malformed listener", in: `{"kind":"Gateway","metadata":{"name":"ingress"},"spec":{"listeners":["x"]}}`, wantGateway: true, wantErr: "spec.listeners[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := manifest.Document{Source: "gw.yaml#1", JSON: json.RawMessage(tt.in)}
			got, isGateway, err := patchGatewayPort(in, "ingress", 8080, 9090)
			if isGateway != tt.wantGateway {
				t.Errorf("isGateway = %v, want %v", isGateway, tt.wantGateway)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "gw.yaml#1") {
					t.Fatalf("error = %v, want one naming gw.yaml#1 and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPorts == nil {
				if string(got.JSON) != tt.in {
					t.Errorf("document changed: %s", got.JSON)
				}
				return
			}
			if diff := cmp.Diff(tt.wantPorts, listenerPorts(t, got.JSON)); diff != "" {
				t.Errorf("listener ports (-want +got):\n%s", diff)
			}
		})
	}
}

// The embedded demo resources become one apply request, with the gateway on the chosen port.
func TestApplyRequestFromDemoFiles(t *testing.T) {
	req, err := applyRequest(demoyaml.FS, demoyaml.BaseFiles(), demoyaml.Gateway, demoyaml.GatewayPort, 18080)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Resources) != len(req.Sources) {
		t.Fatalf("%d resources but %d sources", len(req.Resources), len(req.Sources))
	}
	var kinds []string
	for i, raw := range req.Resources {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s: %v", req.Sources[i], err)
		}
		kinds = append(kinds, obj.Kind+"/"+obj.Metadata.Name)
		if obj.Kind == "Gateway" {
			if diff := cmp.Diff([]float64{18080}, listenerPorts(t, raw)); diff != "" {
				t.Errorf("gateway listener ports (-want +got):\n%s", diff)
			}
		}
		if !strings.HasPrefix(req.Sources[i], "examples/demo/") {
			t.Errorf("source %q does not name the file", req.Sources[i])
		}
	}
	want := []string{
		"Mesh/default",
		"Service/web-api", "Service/recommendation", "Service/recommendation-v1", "Service/recommendation-v2", "Service/purchase-history",
		"Gateway/ingress", "HTTPRoute/ingress-to-web-api",
		"HTTPRoute/recommendation",
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}

func TestApplyRequestErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"svc.yaml": {Data: []byte("kind: Service\nmetadata:\n  name: a\n")},
		"bad.yaml": {Data: []byte("kind: [\n")},
	}
	tests := []struct {
		files   []string
		wantErr string
	}{
		{files: []string{"svc.yaml"}, wantErr: `hold no Gateway "ingress"`},
		{files: []string{"missing.yaml"}, wantErr: "missing.yaml"},
		{files: []string{"svc.yaml", "bad.yaml"}, wantErr: "examples/demo/bad.yaml#1: invalid YAML"},
	}
	for _, tt := range tests {
		_, err := applyRequest(fsys, tt.files, "ingress", 8080, 9090)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("applyRequest(%v) error = %v, want one containing %q", tt.files, err, tt.wantErr)
		}
	}
}

func listenerPorts(t *testing.T, doc []byte) []float64 {
	t.Helper()
	var obj struct {
		Spec struct {
			Listeners []struct{ Port float64 }
		}
	}
	if err := json.Unmarshal(doc, &obj); err != nil {
		t.Fatal(err)
	}
	var ports []float64
	for _, l := range obj.Spec.Listeners {
		ports = append(ports, l.Port)
	}
	return ports
}

func itoa(i int) string { return strconv.Itoa(i) }
