package mesh

import (
	"path/filepath"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Bounds and default of the Mesh's spec.certificates.lifetime. Lifetimes of a few seconds
// are for tests; proxies renew at half-life.
const (
	MinCertificateLifetime     = 2 * time.Second
	MaxCertificateLifetime     = 90 * 24 * time.Hour
	DefaultCertificateLifetime = 24 * time.Hour
)

// CertificateLifetime is the lifetime of workload certificates the Mesh asks for (its
// defaults filled in or not): spec.certificates.lifetime, else DefaultCertificateLifetime.
func CertificateLifetime(m *v1alpha1.Mesh) time.Duration {
	if m != nil && m.Spec.Certificates != nil && m.Spec.Certificates.Lifetime != "" {
		if d, err := time.ParseDuration(m.Spec.Certificates.Lifetime); err == nil && d > 0 {
			return d
		}
	}
	return DefaultCertificateLifetime
}

// validateMeshCertificates checks spec.certificates and spec.ca. Whether spec.ca may change
// (it may not by an apply: `weft ca rotate` changes it) is weftd's check, not this one.
func validateMeshCertificates(e *errs, m *v1alpha1.Mesh) {
	if c := m.Spec.Certificates; c != nil && c.Lifetime != "" {
		f := fieldPath("spec.certificates.lifetime")
		d, err := time.ParseDuration(c.Lifetime)
		switch {
		case err != nil:
			e.add(f, "%q is not a duration (e.g. \"24h\" or \"90m\")", c.Lifetime)
		case d < MinCertificateLifetime:
			e.add(f, "%s is shorter than %s", c.Lifetime, MinCertificateLifetime)
		case d > MaxCertificateLifetime:
			e.add(f, "%s is longer than 90 days (2160h)", c.Lifetime)
		}
	}
	ca := m.Spec.CA
	if ca == nil {
		return
	}
	switch ca.Type {
	case v1alpha1.CATypeBuiltin:
		if ca.Files != nil {
			e.add("spec.ca.files", "is not allowed with type builtin: the built-in CA keeps its root in weftd's data directory")
		}
	case v1alpha1.CATypeFiles:
		if ca.Files == nil {
			e.add("spec.ca.files", "is required with type files: certFile, keyFile and rootFile (chainFile if the CA is not signed by the root itself)")
			return
		}
		for _, p := range []struct {
			field, path string
			required    bool
		}{
			{"certFile", ca.Files.CertFile, true},
			{"keyFile", ca.Files.KeyFile, true},
			{"chainFile", ca.Files.ChainFile, false},
			{"rootFile", ca.Files.RootFile, true},
		} {
			f := fieldPath("spec.ca.files").child(p.field)
			switch {
			case p.path == "" && p.required:
				e.add(f, "is required")
			case p.path != "" && !filepath.IsAbs(p.path):
				e.add(f, "%q must be an absolute path on weftd's machine", p.path)
			}
		}
	case "":
		e.add("spec.ca.type", "is required: builtin or files")
	default:
		e.add("spec.ca.type", "%q is not supported; use builtin or files", ca.Type)
	}
}
