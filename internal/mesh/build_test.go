package mesh

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/wire"
)

func TestBuildSnapshot(t *testing.T) {
	workloads := []wire.Workload{
		{ID: "b-2", Service: "backend", Namespace: "default", ServiceAccount: "backend-sa", SPIFFEID: "stale"},
		{ID: "a-1", Service: "backend", Namespace: "default", ServiceAccount: "backend-sa"},
	}
	t.Run("defaults without a Mesh", func(t *testing.T) {
		res := []*Resource{
			mustDecode(t, backendSvc), mustDecode(t, edgeGateway), mustDecode(t, meshRoute),
			mustDecode(t, strings.Replace(meshRoute, "{name: r}", "{name: a}", 1)),
			mustDecode(t, strings.Replace(meshRoute, "{name: r}", "{name: z, namespace: a}", 1)),
		}
		snap := BuildSnapshot(res, workloads, []byte("bundle"))
		if snap.Mesh == nil || snap.Mesh.Spec.TrustDomain != "weft.local" || snap.Mesh.Spec.Defaults.ConnectTimeout != "5s" {
			t.Fatalf("mesh = %+v, want the defaults", snap.Mesh)
		}
		if len(snap.Services) != 1 || snap.Services[NamespacedName{"default", "backend"}] == nil {
			t.Errorf("services = %v", snap.Services)
		}
		if len(snap.Gateways) != 1 || string(snap.TrustBundle) != "bundle" {
			t.Errorf("snapshot = %+v", snap)
		}
		var routes []string
		for _, r := range snap.HTTPRoutes {
			routes = append(routes, r.Namespace+"/"+r.Name)
		}
		if diff := cmp.Diff([]string{"a/z", "default/a", "default/r"}, routes); diff != "" {
			t.Errorf("route order (-want +got):\n%s", diff)
		}
		var ids, spiffe []string
		for _, w := range snap.Workloads {
			ids = append(ids, w.ID)
			spiffe = append(spiffe, w.SPIFFEID)
		}
		if diff := cmp.Diff([]string{"a-1", "b-2"}, ids); diff != "" {
			t.Errorf("workload order (-want +got):\n%s", diff)
		}
		want := "spiffe://weft.local/ns/default/sa/backend-sa"
		if diff := cmp.Diff([]string{want, want}, spiffe); diff != "" {
			t.Errorf("SPIFFE IDs (-want +got):\n%s", diff)
		}
	})
	t.Run("trust domain of the Mesh", func(t *testing.T) {
		m := mustDecode(t, "apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: {trustDomain: prod.example.org}\n")
		snap := BuildSnapshot([]*Resource{m}, workloads[:1], nil)
		if got := snap.Workloads[0].SPIFFEID; got != "spiffe://prod.example.org/ns/default/sa/backend-sa" {
			t.Errorf("SPIFFE ID = %q", got)
		}
		if snap.Mesh.Spec.Defaults.ConnectTimeout != "5s" {
			t.Errorf("connect timeout default not filled: %+v", snap.Mesh.Spec.Defaults)
		}
	})
}
