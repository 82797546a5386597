package demo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites that file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestRunningOutput(t *testing.T) {
	p, err := newPlan(demoApps, "ingress", 8080, seqPorts(41000, portsNeeded(demoApps)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		steps nextSteps
	}{
		{name: "running.golden", steps: nextSteps{
			GatewayURL:   p.Gateway.URL(),
			GatewayAdmin: p.Gateway.adminAddr(),
			WebAPIAdmin:  p.Workloads[3].adminAddr(),
			Files:        []string{"examples/demo/canary-50-50.yaml", "examples/demo/all-v2.yaml"},
		}},
		{name: "running-own-config.golden", steps: nextSteps{
			GatewayURL:   p.Gateway.URL(),
			GatewayAdmin: p.Gateway.adminAddr(),
			ConfigExport: "/tmp/weft-demo-1/weftd/client.yaml",
			Files:        []string{"/tmp/weft-demo-1/examples/canary-50-50.yaml", "/tmp/weft-demo-1/examples/all-v2.yaml"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeTable(&b, p)
			writeNextSteps(&b, tt.steps)
			golden(t, tt.name, b.Bytes())
		})
	}
}
