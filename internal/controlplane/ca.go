package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/xds"
)

// openCA opens weftd's CA manager: the CA in use (the built-in root of <data-dir>/ca until a
// rotation moves to another), resuming a rotation a restart interrupted. It watches the
// proxies through the xDS server and the workloads' certificates through the registry.
func openCA(cfg Config, st *store.Bolt, reg *registry.Registry, x xdsService, log *slog.Logger) (*ca.Manager, error) {
	state, err := ca.NewBoltState(st.DB())
	if err != nil {
		return nil, err
	}
	return ca.NewManager(ca.ManagerConfig{
		Dir:          filepath.Join(cfg.DataDir, CADir),
		State:        state,
		Proxies:      func() []ca.ProxyTrust { return proxyTrust(x.Proxies()) },
		Workloads:    func() []ca.WorkloadCert { return workloadCerts(reg) },
		RecordMeshCA: func(ctx context.Context, spec *v1alpha1.CASpec) error { return recordMeshCA(ctx, st, spec) },
	}, log)
}

func proxyTrust(proxies []xds.ProxyStatus) []ca.ProxyTrust {
	out := make([]ca.ProxyTrust, len(proxies))
	for i, p := range proxies {
		out[i] = ca.ProxyTrust{NodeID: p.NodeID, UsesBundle: p.UsesTrustBundle, Acked: p.TrustBundle}
	}
	return out
}

func workloadCerts(reg *registry.Registry) []ca.WorkloadCert {
	certs := reg.Certificates()
	workloads := reg.List()
	out := make([]ca.WorkloadCert, len(workloads))
	for i, w := range workloads {
		c, ok := certs[w.ID]
		out[i] = ca.WorkloadCert{ID: w.ID, Proxyless: w.Proxyless, Recorded: ok, Issuer: c.Issuer, NotAfter: c.NotAfter}
	}
	return out
}

// recordMeshCA writes spec.ca into the stored Mesh (creating the Mesh if none is stored), so
// that the Mesh says which CA signs once a rotation is done.
func recordMeshCA(ctx context.Context, st store.Store, spec *v1alpha1.CASpec) error {
	m := &v1alpha1.Mesh{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindMesh},
		Metadata: v1alpha1.ObjectMeta{Name: mesh.MeshName},
	}
	res, err := st.Get(ctx, mesh.Key{Kind: mesh.KindMesh, Name: mesh.MeshName})
	switch {
	case err == nil:
		stored, ok := res.Object.(*v1alpha1.Mesh)
		if !ok {
			return fmt.Errorf("the stored Mesh is a %T", res.Object)
		}
		m = stored
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("reading the Mesh: %w", err)
	}
	m.Spec.CA = spec
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the Mesh: %w", err)
	}
	updated, err := mesh.Decode(raw)
	if err != nil {
		return fmt.Errorf("decoding the Mesh: %w", err)
	}
	batch := []*mesh.Resource{updated}
	_, err = st.Apply(ctx, batch, store.ApplyOptions{
		Check: func(current []*mesh.Resource) error { return mesh.Validate(batch, current).Err() },
	})
	if err != nil {
		return fmt.Errorf("storing the Mesh: %w", err)
	}
	return nil
}

// xdsServerTLS is the xDS server's mutual TLS: weftd's serving certificate, and proxies'
// certificates checked against the trust bundle in force at each handshake (during a CA
// rotation, the old and the new roots).
func xdsServerTLS(serving tls.Certificate, trust func() *x509.CertPool) *tls.Config {
	// "h2" is gRPC's protocol (grpc's credentials would add it as well).
	return servingTLS(serving, trust, tls.RequireAndVerifyClientCert, []string{"h2"})
}
