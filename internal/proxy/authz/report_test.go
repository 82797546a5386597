package authz

import (
	"slices"
	"strings"
	"testing"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// policySeries lists the authorization series reg exports, sorted.
func policySeries(t *testing.T, reg *stats.Registry) []string {
	t.Helper()
	snap, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for s := range snap {
		if strings.HasPrefix(s, "weft_authz_") {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func denyPolicy(name string) *config.Authz {
	return &config.Authz{Filters: []*config.RBACFilter{{Rules: rules(config.RBACDeny, &config.RBACPolicy{
		Name: name + "/rule/0", Permissions: []*config.Permission{anyPerm()}, Principals: []*config.Principal{sa(otherID)},
	})}}}
}

// compileAll compiles cfgs as one configuration apply does: Begin, a Compile per chain, then
// Commit (or Abort when abort is set).
func compileAll(t *testing.T, rep *Reporter, abort bool, cfgs ...*config.Authz) {
	t.Helper()
	rep.Begin()
	for _, c := range cfgs {
		if _, err := Compile(c, rep); err != nil {
			t.Fatal(err)
		}
	}
	if abort {
		rep.Abort()
		return
	}
	rep.Commit()
}

// The series of a policy that no chain uses any more stop being exported; an apply that fails
// leaves the series as they were.
func TestReporterDropsSeriesOfRemovedPolicies(t *testing.T) {
	reg := stats.NewRegistry()
	rep := NewReporter(nil, reg)

	compileAll(t, rep, false, denyPolicy("shop/a"), denyPolicy("shop/b"))
	want := []string{`weft_authz_denied_total{policy="shop/a"}`, `weft_authz_denied_total{policy="shop/b"}`}
	if got := policySeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("after applying a and b: %q, want %q", got, want)
	}

	// b is deleted; a stays, its count kept.
	reg.Counter(MetricDenied, helpDenied, "policy", "shop/a").Add(5)
	compileAll(t, rep, false, denyPolicy("shop/a"))
	snap, _ := reg.Snapshot()
	if got := policySeries(t, reg); !slices.Equal(got, want[:1]) || snap[want[0]] != 5 {
		t.Fatalf("after deleting b: %q (a = %v), want %q with a = 5", got, snap[want[0]], want[:1])
	}

	// An apply that fails after compiling c: c's series is not left behind, a's stays.
	compileAll(t, rep, true, denyPolicy("shop/c"))
	if got := policySeries(t, reg); !slices.Equal(got, want[:1]) {
		t.Fatalf("after an aborted apply of c: %q, want %q", got, want[:1])
	}

	// No policy at all: nothing exported.
	compileAll(t, rep, false)
	if got := policySeries(t, reg); len(got) != 0 {
		t.Fatalf("after removing every policy: %q, want none", got)
	}
}
