package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

const module = "github.com/weftmesh/weft"

// forbidden are import path prefixes weft-proxy must never link: Kubernetes clients and the
// control plane. The proxy shares only api/, internal/wire, the Envoy protos and telemetry.
// Every workload runs a proxy, so libraries it does without for its footprint are here too:
// YAML parsers (its bootstrap is JSON) and prometheus/client_golang (internal/proxy/stats),
// each measured at a quarter to three quarters of a MiB of idle RSS.
var forbidden = []string{
	"sigs.k8s.io/yaml",
	"go.yaml.in",
	"gopkg.in/yaml",
	"github.com/prometheus/client_golang",
	"github.com/prometheus/procfs",
	"k8s.io/client-go",
	"sigs.k8s.io/controller-runtime",
	module + "/internal/xds",
	module + "/internal/translate",
	module + "/internal/mesh",
	module + "/internal/store",
	module + "/internal/registry",
	module + "/internal/ca",
	module + "/internal/apiserver",
	module + "/internal/controlplane",
	module + "/internal/cli",
	module + "/internal/tokens",
}

func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", module+"/cmd/weft-proxy").Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list -deps: %v\n%s", err, msg)
	}
	deps := strings.Fields(string(out))
	// The list must be the real one: the agent is there, and so is the proxy's own xDS client.
	for _, want := range []string{module + "/internal/proxy/agent", module + "/internal/proxy/xdsclient", module + "/cmd/weft-proxy"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps does not list %s; got %d packages", want, len(deps))
		}
	}
	for _, d := range deps {
		if p, ok := forbiddenPrefix(d); ok {
			t.Errorf("weft-proxy depends on %s (forbidden: %s)", d, p)
		}
	}
}

// forbiddenPrefix matches a package or any package below it, not a sibling sharing a prefix
// (internal/xds forbids internal/xds/cache but not internal/xdsfoo).
func forbiddenPrefix(pkg string) (string, bool) {
	for _, f := range forbidden {
		if pkg == f || strings.HasPrefix(pkg, f+"/") {
			return f, true
		}
	}
	return "", false
}

func TestForbiddenPrefix(t *testing.T) {
	tests := []struct {
		pkg  string
		want bool
	}{
		{"k8s.io/client-go/kubernetes", true},
		{"k8s.io/apimachinery/pkg/types", false},
		{module + "/internal/xds", true},
		{module + "/internal/xds/cache", true},
		{module + "/internal/proxy/xdsclient", false},
		{module + "/internal/castle", false},
		{module + "/internal/ca", true},
		{module + "/internal/wire", false},
	}
	for _, tt := range tests {
		if _, got := forbiddenPrefix(tt.pkg); got != tt.want {
			t.Errorf("forbiddenPrefix(%s) = %v, want %v", tt.pkg, got, tt.want)
		}
	}
}
