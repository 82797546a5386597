package controlplane

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/store"
)

// TestRotationThroughWeftd runs a rotation through weftd's API with no proxy connected (every
// phase passes at once), and checks what it must not touch: client.yaml still reaches weftd,
// whose serving certificate keeps the first root; and what it records: the Mesh's spec.ca,
// the new root after a restart.
func TestRotationThroughWeftd(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "weftd")
	w := startWeftd(t, dataDir)
	c, cfg := client(t, w)
	ctx := testContext(t)
	before, err := c.CAStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &apiclient.ApplyRequest{Resources: []json.RawMessage{json.RawMessage(
		`{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"trustDomain":"corp.example"}}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RotateCA(ctx, &apiclient.CARotateRequest{Builtin: true}); err != nil {
		t.Fatal(err)
	}
	var after *apiclient.CAStatus
	waitFor(t, "the rotation to end", func() bool {
		after, err = c.CAStatus(ctx)
		return err == nil && after.Phase == "idle"
	})
	if len(after.Roots) != 1 || after.Roots[0].Fingerprint == before.Roots[0].Fingerprint ||
		filepath.Dir(after.Signing.Dir) != filepath.Join(dataDir, CADir, "roots") {
		t.Fatalf("after the rotation: %+v, want a new built-in root under ca/roots", after)
	}
	if snap := w.xds.latest(); snap == nil || !bytes.Contains(snap.TrustBundle, []byte("CERTIFICATE")) {
		t.Fatal("no snapshot with a trust bundle was handed to the xDS server")
	}

	raw, err := c.Get(ctx, "meshes", "-", "default")
	if err != nil {
		t.Fatal(err)
	}
	var m v1alpha1.Mesh
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Spec.CA == nil || m.Spec.CA.Type != v1alpha1.CATypeBuiltin || m.Spec.TrustDomain != "corp.example" {
		t.Errorf("stored Mesh spec = %+v, want spec.ca builtin recorded and the trust domain kept", m.Spec)
	}

	// weftd restarts: the new root still signs; client.yaml's CA (the serving root) is the same.
	w.stop(t)
	w = startWeftd(t, dataDir)
	c2, cfg2 := client(t, w)
	st, err := c2.CAStatus(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != "idle" || st.Signing.Dir != after.Signing.Dir {
		t.Errorf("after a restart: phase %s, signing %s; want idle with %s", st.Phase, st.Signing.Dir, after.Signing.Dir)
	}
	if cfg2.CA != cfg.CA {
		t.Error("client.yaml's CA changed: clients of the old file could not reach weftd")
	}
}

func TestRecordMeshCACreatesTheMesh(t *testing.T) {
	st, err := store.OpenBolt(store.BoltConfig{Path: filepath.Join(t.TempDir(), "store.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	spec := &v1alpha1.CASpec{Type: v1alpha1.CATypeFiles, Files: &v1alpha1.CAFiles{CertFile: "/pki/ca.pem", KeyFile: "/pki/k.pem", RootFile: "/pki/r.pem"}}
	if err := recordMeshCA(t.Context(), st, spec); err != nil {
		t.Fatal(err)
	}
	res, err := st.Get(t.Context(), mesh.Key{Kind: mesh.KindMesh, Name: mesh.MeshName})
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.MeshFrom(res)
	if m.Spec.CA == nil || *m.Spec.CA.Files != *spec.Files || m.Spec.TrustDomain != v1alpha1.DefaultTrustDomain {
		t.Errorf("created Mesh spec = %+v", m.Spec)
	}
}
