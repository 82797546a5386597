package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/wire"
)

// CAService is what the API needs of weftd's certificate authority manager (*ca.Manager):
// rotations, their status, and what they mean for applies and lease renewals.
type CAService interface {
	Rotate(ctx context.Context, req ca.RotateRequest) (ca.Status, error)
	Status() ca.Status
	// CheckMeshCA refuses an applied Mesh whose spec.ca names another CA than the one in use.
	CheckMeshCA(spec *v1alpha1.CASpec) error
	// NeedsRenewal says whether a workload whose last certificate is (recorded, issuer) must
	// renew it now.
	NeedsRenewal(recorded bool, issuer string) bool
}

// handleCA registers the CA calls (admin only, like every call a join token may not make).
func (s *Server) handleCA(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ca/rotate", s.rotateCA)
	mux.HandleFunc("GET /v1/ca/status", s.caStatus)
}

func (s *Server) rotateCA(w http.ResponseWriter, r *http.Request) {
	if s.cfg.CA == nil {
		writeError(w, http.StatusNotFound, "this weftd does not manage its CA")
		return
	}
	var req apiclient.CARotateRequest
	if !decodeBody(w, r, s.cfg.MaxBodyBytes, &req) {
		return
	}
	rr, err := rotateRequest(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, err := s.cfg.CA.Rotate(r.Context(), rr)
	switch {
	case errors.Is(err, ca.ErrRotationInProgress):
		writeError(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, ca.ErrInvalidCA):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		s.internalError(w, "starting a CA rotation", err)
		return
	}
	s.log.Info("CA rotation requested", "to", describeRotation(rr))
	writeJSON(w, http.StatusOK, caStatus(st))
}

func (s *Server) caStatus(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.CA == nil {
		writeError(w, http.StatusNotFound, "this weftd does not manage its CA")
		return
	}
	writeJSON(w, http.StatusOK, caStatus(s.cfg.CA.Status()))
}

// rotateRequest checks a rotation request: a new built-in root, or the files of a CA, named
// by absolute paths on weftd's machine.
func rotateRequest(req apiclient.CARotateRequest) (ca.RotateRequest, error) {
	files := req.CertFile != "" || req.KeyFile != "" || req.ChainFile != "" || req.RootFile != ""
	switch {
	case req.Builtin && files:
		return ca.RotateRequest{}, errors.New("name either builtin or the files of a CA, not both")
	case req.Builtin:
		return ca.RotateRequest{Builtin: true}, nil
	case !files:
		return ca.RotateRequest{}, errors.New("name the CA to rotate to: builtin, or certFile, keyFile, rootFile and, if needed, chainFile")
	}
	var errs []error
	for _, f := range []struct {
		name, path string
		required   bool
	}{{"certFile", req.CertFile, true}, {"keyFile", req.KeyFile, true}, {"chainFile", req.ChainFile, false}, {"rootFile", req.RootFile, true}} {
		switch {
		case f.path == "" && f.required:
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		case f.path != "" && !filepath.IsAbs(f.path):
			errs = append(errs, fmt.Errorf("%s %q must be an absolute path on weftd's machine", f.name, f.path))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ca.RotateRequest{}, err
	}
	return ca.RotateRequest{Files: &v1alpha1.CAFiles{
		CertFile: req.CertFile, KeyFile: req.KeyFile, ChainFile: req.ChainFile, RootFile: req.RootFile,
	}}, nil
}

func describeRotation(r ca.RotateRequest) string {
	if r.Builtin {
		return "a new built-in root"
	}
	return "files CA " + r.Files.CertFile
}

// checkMeshCA refuses a batch whose Mesh names another CA than the one in use.
func (s *Server) checkMeshCA(batch []*mesh.Resource, source func(int) string) []apiclient.ErrorDetail {
	if s.cfg.CA == nil {
		return nil
	}
	var details []apiclient.ErrorDetail
	for i, res := range batch {
		m, ok := res.Object.(*v1alpha1.Mesh)
		if !ok {
			continue
		}
		if err := s.cfg.CA.CheckMeshCA(m.Spec.CA); err != nil {
			details = append(details, apiclient.ErrorDetail{Index: i, Source: source(i), Kind: res.Kind, Name: res.Name,
				Field: "spec.ca", Message: err.Error()})
		}
	}
	return details
}

// meshSigning reads what the Mesh says about workload certificates: the trust domain and the
// lifetime.
func (s *Server) meshSigning(ctx context.Context) (string, time.Duration, error) {
	m, err := store.EffectiveMesh(ctx, s.cfg.Store)
	if err != nil {
		return "", 0, fmt.Errorf("reading the Mesh: %w", err)
	}
	return m.Spec.TrustDomain, mesh.CertificateLifetime(m), nil
}

// recordCertificate records the certificate issued to a workload (expiry and issuer).
func (s *Server) recordCertificate(id string, issued *ca.Issued) {
	c := registry.CertInfo{SerialNumber: issued.SerialNumber, Issuer: issued.Issuer, NotAfter: issued.NotAfter}
	if err := s.cfg.Registry.RecordCertificate(id, c); err != nil {
		s.log.Warn("recording the certificate issued to a workload", "workload", id, "error", err)
	}
}

// renewalNeeded says whether a workload's proxy must renew its certificate now (a CA
// rotation re-issues certificates). Proxyless workloads get no certificate from weftd.
func (s *Server) renewalNeeded(wl wire.Workload) bool {
	if s.cfg.CA == nil || wl.Proxyless {
		return false
	}
	c, ok := s.cfg.Registry.Certificate(wl.ID)
	return s.cfg.CA.NeedsRenewal(ok, c.Issuer)
}

// caStatus converts the CA's status to its wire form.
func caStatus(st ca.Status) apiclient.CAStatus {
	out := apiclient.CAStatus{
		Phase:        string(st.Phase),
		Signing:      caSource(st.Signing),
		Issuer:       caCert(st.Issuer),
		Roots:        make([]apiclient.CARoot, 0, len(st.Roots)),
		LaggingTotal: st.LaggingTotal,
		Error:        st.Error,
	}
	if !st.Started.IsZero() {
		started, since := st.Started.UTC(), st.PhaseSince.UTC()
		out.Started, out.PhaseSince = &started, &since
	}
	if st.Target != nil {
		t := caSource(*st.Target)
		out.Target = &t
	}
	if st.Previous != nil {
		p := caSource(*st.Previous)
		out.Previous = &p
	}
	for _, r := range st.Roots {
		out.Roots = append(out.Roots, apiclient.CARoot{CACertificate: caCert(r.CertSummary), Role: r.Role, Signs: r.Signs})
	}
	for _, l := range st.Lagging {
		out.Lagging = append(out.Lagging, apiclient.CALaggard{Kind: l.Kind, ID: l.ID, Reason: l.Reason})
	}
	return out
}

func caSource(s ca.Source) apiclient.CASource {
	out := apiclient.CASource{Type: s.Type, Dir: s.Dir}
	if f := s.Files; f != nil {
		out.CertFile, out.KeyFile, out.ChainFile, out.RootFile = f.CertFile, f.KeyFile, f.ChainFile, f.RootFile
	}
	return out
}

func caCert(c ca.CertSummary) apiclient.CACertificate {
	return apiclient.CACertificate{Subject: c.Subject, Fingerprint: c.Fingerprint, NotAfter: c.NotAfter.UTC()}
}
