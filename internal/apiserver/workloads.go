package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/wire"
)

func (s *Server) listWorkloads(w http.ResponseWriter, _ *http.Request) {
	items := s.cfg.Registry.List()
	if items == nil {
		items = []wire.Workload{}
	}
	writeJSON(w, http.StatusOK, apiclient.WorkloadList{Items: items})
}

func (s *Server) lease(wl wire.Workload) apiclient.RegisterResponse {
	return apiclient.RegisterResponse{ID: wl.ID, LeaseSeconds: int(s.cfg.Registry.TTL().Seconds()), SPIFFEID: wl.SPIFFEID,
		RenewCertificate: s.renewalNeeded(wl)}
}

func (s *Server) registerWorkload(w http.ResponseWriter, r *http.Request) {
	var in wire.Workload
	if !decodeBody(w, r, s.cfg.MaxBodyBytes, &in) || !s.mayRegister(w, r, &in) {
		return
	}
	wl, err := s.cfg.Registry.Register(in)
	switch {
	case errors.Is(err, registry.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, "registering workload "+in.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, s.lease(wl))
}

func (s *Server) renewWorkload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.mayManage(w, r, id) {
		return
	}
	wl, err := s.cfg.Registry.Renew(id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.internalError(w, "renewing workload "+id, err)
		return
	}
	writeJSON(w, http.StatusOK, s.lease(wl))
}

func (s *Server) deregisterWorkload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.mayManage(w, r, id) {
		return
	}
	err := s.cfg.Registry.Deregister(id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.internalError(w, "deregistering workload "+id, err)
		return
	}
	writeJSON(w, http.StatusOK, apiclient.RegisterResponse{ID: id})
}

func (s *Server) signCertificate(w http.ResponseWriter, r *http.Request) {
	var req apiclient.CertificateRequest
	if !decodeBody(w, r, s.cfg.MaxBodyBytes, &req) {
		return
	}
	td, lifetime, err := s.meshSigning(r.Context())
	if err != nil {
		s.internalError(w, "signing a certificate", err)
		return
	}
	_, id, err := ca.ParseCSR([]byte(req.CSR), td)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var workload *wire.Workload
	if req.WorkloadID != "" {
		wl, err := s.cfg.Registry.Get(req.WorkloadID)
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		if wl.SPIFFEID != id.String() {
			writeError(w, http.StatusForbidden, fmt.Sprintf("workload %s has the identity %s; the request asks for %s", wl.ID, wl.SPIFFEID, id))
			return
		}
		workload = &wl
	}
	if err := s.cfg.Authorizer.AuthorizeCSR(r, id, workload); err != nil {
		writeError(w, http.StatusForbidden, fmt.Sprintf("not allowed to obtain a certificate for %s: %v", id, err))
		return
	}
	issued, err := s.cfg.Authority.Sign(r.Context(), ca.SignRequest{CSR: []byte(req.CSR), TrustDomain: td, Lifetime: lifetime})
	switch {
	case errors.Is(err, ca.ErrInvalidCSR):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, "signing a certificate for "+id.String(), err)
		return
	}
	if workload != nil {
		s.recordCertificate(workload.ID, issued)
	}
	s.log.Info("issued workload certificate", "spiffeID", issued.SPIFFEID, "workload", req.WorkloadID, "notAfter", issued.NotAfter)
	writeJSON(w, http.StatusOK, apiclient.CertificateResponse{
		CertificateChain: string(issued.ChainPEM),
		TrustBundle:      string(issued.TrustBundlePEM),
	})
}
