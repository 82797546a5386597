package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const paymentsService = `apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: payments, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
`

func TestApplyRefusesInvalidResources(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, paymentsService)

	tests := []struct {
		name string
		yaml string
		// every string must appear in the error output
		want []string
	}{
		{
			name: "bad YAML",
			yaml: "apiVersion: mesh.weft.dev/v1alpha1\nkind: Service\nmetadata: {name: a\n",
			want: []string{"bad-yaml.yaml", "YAML"},
		},
		{
			name: "unknown kind",
			yaml: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {}\n",
			want: []string{"unknown-kind.yaml", "VirtualService"},
		},
		{
			name: "unknown field",
			yaml: paymentsService + "  retries: 3\n",
			want: []string{"unknown-field.yaml", "payments", "retries"},
		},
		{
			name: "missing field",
			yaml: "apiVersion: mesh.weft.dev/v1alpha1\nkind: Service\nmetadata: {name: orders, namespace: default}\nspec: {}\n",
			want: []string{"missing-field.yaml", "orders", "spec.ports"},
		},
		{
			name: "weight out of range",
			yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments, namespace: default}
spec:
  parentRefs: [{kind: Service, name: payments, port: 8080}]
  rules:
  - backendRefs: [{name: payments, port: 8080, weight: 2000000}]
`,
			want: []string{"weight-out-of-range.yaml", "HTTPRoute", "payments", "weight"},
		},
		{
			name: "route to a Service that does not exist",
			yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: payments, namespace: default}
spec:
  parentRefs: [{kind: Service, name: payments, port: 8080}]
  rules:
  - backendRefs: [{name: does-not-exist, port: 8080}]
`,
			want: []string{"route-to-a-service-that-does-not-exist.yaml", "HTTPRoute", "does-not-exist", "backendRefs"},
		},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ToLower(strings.ReplaceAll(tt.name, " ", "-"))+".yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := w.weft(t, "", "apply", "-f", file)
			if err == nil {
				t.Fatalf("apply succeeded:\n%s", out)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("error output does not name %q:\n%s", s, out)
				}
			}
		})
	}

	// A multi-document apply is all or nothing: a valid Service beside an invalid route is not stored.
	multi := filepath.Join(dir, "multi.yaml")
	os.WriteFile(multi, []byte(`apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: orders, namespace: default}
spec:
  ports: [{port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders, namespace: default}
spec:
  parentRefs: [{kind: Service, name: orders, port: 8080}]
  rules:
  - backendRefs: [{name: orders, port: 8080, weight: -1}]
`), 0o600)
	out, err := w.weft(t, "", "apply", "-f", multi)
	if err == nil {
		t.Fatalf("multi-document apply with an invalid document succeeded:\n%s", out)
	}
	if !strings.Contains(out, "multi.yaml#2") {
		t.Errorf("error does not name the document: %s", out)
	}
	if out, err := w.weft(t, "", "get", "service", "orders"); err == nil {
		t.Fatalf("the valid half of a refused apply was stored:\n%s", out)
	}

	// The same pair, corrected, applies in one go (the route refers to a Service of the same apply).
	fixed := strings.Replace(mustRead(t, multi), "weight: -1", "weight: 1", 1)
	if out, err := w.weft(t, fixed, "apply", "-f", "-"); err != nil {
		t.Fatalf("corrected apply: %v\n%s", err, out)
	}
	out, err = w.weft(t, "", "get", "services", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("get -o json: %v\n%s", err, out)
	}
	var names []string
	for _, i := range list.Items {
		names = append(names, i.Metadata.Name)
	}
	if strings.Join(names, ",") != "orders,payments" {
		t.Errorf("services = %v, want orders, payments", names)
	}

	// Deleting a Service a route refers to is refused, naming the route.
	if out, err := w.weft(t, "", "delete", "service", "orders"); err == nil || !strings.Contains(out, "orders") {
		t.Errorf("deleting a Service in use: err=%v\n%s", err, out)
	}
	if out, err := w.weft(t, "", "delete", "httproute", "orders"); err != nil {
		t.Fatalf("delete route: %v\n%s", err, out)
	}
	if out, err := w.weft(t, "", "delete", "service", "orders"); err != nil {
		t.Fatalf("delete unused service: %v\n%s", err, out)
	}
}

func TestGetWorkloadsJSON(t *testing.T) {
	m := startRecMesh(t)
	out, err := m.w.weft(t, "", "get", "workloads", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var list struct {
		Items []struct {
			ID           string `json:"id"`
			Service      string `json:"service"`
			Version      string `json:"version"`
			Address      string `json:"address"`
			InboundPort  int    `json:"inboundPort"`
			AdminAddress string `json:"adminAddress"`
			SPIFFEID     string `json:"spiffeID"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding: %v\n%s", err, out)
	}
	found := 0
	for _, it := range list.Items {
		if it.ID != m.p1.id {
			continue
		}
		found++
		if it.Service != "recommendation" || it.Version != "v1" || it.Address != "127.0.0.1" ||
			it.InboundPort != m.p1.inboundPort || it.AdminAddress != m.p1.adminAddr ||
			it.SPIFFEID != "spiffe://weft.local/ns/default/sa/recommendation" {
			t.Errorf("workload %s = %+v", m.p1.id, it)
		}
	}
	if found != 1 || len(list.Items) != 3 {
		t.Fatalf("want 3 workloads including %s, got:\n%s", m.p1.id, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
