package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/tokens"
	"github.com/weftmesh/weft/internal/wire"
)

// handleTokens registers the join-token calls, when the server has a token store. Only the
// admin token may make them (they are not in joinTokenRoutes).
func (s *Server) handleTokens(mux *http.ServeMux) {
	if s.cfg.Tokens == nil {
		return
	}
	mux.HandleFunc("POST /v1/tokens", s.createToken)
	mux.HandleFunc("GET /v1/tokens", s.listTokens)
	mux.HandleFunc("DELETE /v1/tokens/{id}", s.revokeToken)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req apiclient.CreateJoinTokenRequest
	if !decodeBody(w, r, s.cfg.MaxBodyBytes, &req) {
		return
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(tokens.MaxTTL/time.Second) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid join token request: ttl %ds is out of range %v to %v (30 days)",
			req.TTLSeconds, tokens.MinTTL, tokens.MaxTTL))
		return
	}
	tok, secret, err := s.cfg.Tokens.Create(tokens.CreateRequest{
		Namespace:      req.Namespace,
		ServiceAccount: req.ServiceAccount,
		TTL:            time.Duration(req.TTLSeconds) * time.Second,
	})
	switch {
	case errors.Is(err, tokens.ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, "creating a join token", err)
		return
	}
	td, ok := s.tokenTrustDomain(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusCreated, apiclient.CreateJoinTokenResponse{JoinToken: tokenInfo(td, tok), Token: secret})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Tokens.List()
	if err != nil {
		s.internalError(w, "listing join tokens", err)
		return
	}
	td, ok := s.tokenTrustDomain(w, r)
	if !ok {
		return
	}
	out := apiclient.JoinTokenList{Items: make([]apiclient.JoinToken, 0, len(list))}
	for _, tok := range list {
		out.Items = append(out.Items, tokenInfo(td, tok))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	tok, err := s.cfg.Tokens.Revoke(r.PathValue("id"))
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.internalError(w, "revoking join token "+r.PathValue("id"), err)
		return
	}
	td, ok := s.tokenTrustDomain(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, tokenInfo(td, tok))
}

// tokenTrustDomain is the trust domain the answers' SPIFFE IDs are in. On error it has
// answered the request and returns false.
func (s *Server) tokenTrustDomain(w http.ResponseWriter, r *http.Request) (string, bool) {
	td, err := s.trustDomain(r.Context())
	if err != nil {
		s.internalError(w, "reading the trust domain", err)
		return "", false
	}
	return td, true
}

// tokenInfo is the wire form of a token, with the SPIFFE ID it grants in the trust domain td.
func tokenInfo(td string, tok tokens.Token) apiclient.JoinToken {
	return apiclient.JoinToken{
		ID:             tok.ID,
		Namespace:      tok.Namespace,
		ServiceAccount: tok.ServiceAccount,
		SPIFFEID:       wire.SPIFFEID(td, tok.Namespace, tok.ServiceAccount),
		Created:        tok.Created,
		Expiry:         tok.Expiry,
		RevokedAt:      tok.RevokedAt,
	}
}
