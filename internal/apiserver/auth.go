package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/tokens"
	"github.com/weftmesh/weft/internal/wire"
)

// JoinTokens is what the API needs of the join-token store (*tokens.Store).
type JoinTokens interface {
	Create(req tokens.CreateRequest) (tokens.Token, string, error)
	Verify(bearer string) (tokens.Token, error)
	List() ([]tokens.Token, error)
	Revoke(id string) (tokens.Token, error)
}

// Caller is who sent an API request.
type Caller struct {
	// JoinToken is the join token the request authenticated with; nil for the admin token.
	JoinToken *tokens.Token
}

type callerKey struct{}

// CallerFrom returns the caller of an authenticated request.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// joinTokenRoutes are the only calls a join token may make; the handlers further restrict
// them to the token's identity. Every other call, present or future, needs the admin token.
var joinTokenRoutes = map[string]bool{
	"POST /v1/workloads":           true,
	"PUT /v1/workloads/{id}/lease": true,
	"DELETE /v1/workloads/{id}":    true,
	"POST /v1/certificates":        true,
}

// authenticate lets a request through with the admin token (every call), or with a valid join
// token (only joinTokenRoutes, found by asking mux which pattern the request matches). The
// admin token is compared in constant time (of hashes, so that its length does not leak
// either). No credential is ever logged or echoed.
func (s *Server) authenticate(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		got := sha256.Sum256([]byte(token))
		switch {
		case ok && subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1:
			serveAs(mux, w, r, Caller{})
		case ok && s.cfg.Tokens != nil && tokens.IsJoinToken(token):
			s.serveJoinToken(mux, w, r, token)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="weftd"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		}
	})
}

func (s *Server) serveJoinToken(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, bearer string) {
	tok, err := s.cfg.Tokens.Verify(bearer)
	var invalid *tokens.InvalidError
	switch {
	case errors.As(err, &invalid):
		s.log.Info("refused a join token", "method", r.Method, "path", r.URL.Path, "tokenID", invalid.ID,
			"reason", invalid.Reason, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="weftd", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		s.internalError(w, "checking a join token", err)
		return
	}
	if _, r.Pattern = mux.Handler(r); !joinTokenRoutes[r.Pattern] {
		writeError(w, http.StatusForbidden, fmt.Sprintf("join token %s may only register, renew and deregister workloads of %s and obtain their certificate; %s %s needs the admin token",
			tok.ID, identityName(tok), r.Method, r.URL.Path))
		return
	}
	serveAs(mux, w, r, Caller{JoinToken: &tok})
}

// serveAs serves r for caller. r.Pattern is set too, for observe: the mux sets it only on the
// request it serves, which carries the caller and so is a copy.
func serveAs(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, caller Caller) {
	_, r.Pattern = mux.Handler(r)
	mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
}

// identityName names a token's identity without a trust domain.
func identityName(t tokens.Token) string {
	return fmt.Sprintf("namespace %q, service account %q", t.Namespace, t.ServiceAccount)
}

// joinToken returns the join token of the request's caller, nil for the admin.
func joinToken(r *http.Request) *tokens.Token {
	c, _ := CallerFrom(r.Context())
	return c.JoinToken
}

// mayRegister answers 403 and returns false when a join token caller registers a workload of
// another identity, or takes over the ID of a live workload of another identity.
func (s *Server) mayRegister(w http.ResponseWriter, r *http.Request, in *wire.Workload) bool {
	tok := joinToken(r)
	if tok == nil {
		return true
	}
	if in.Namespace != tok.Namespace || in.ServiceAccount != tok.ServiceAccount {
		writeError(w, http.StatusForbidden, fmt.Sprintf("join token %s is for %s; workload %s has namespace %q, service account %q",
			tok.ID, identityName(*tok), in.ID, in.Namespace, in.ServiceAccount))
		return false
	}
	if old, err := s.cfg.Registry.Get(in.ID); err == nil && !sameIdentity(old, tok) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("workload %s is registered with the identity %s; join token %s, for %s, cannot replace it",
			in.ID, old.SPIFFEID, tok.ID, identityName(*tok)))
		return false
	}
	return true
}

// mayManage answers and returns false when a join token caller renews or deregisters a
// workload that is not live (404) or not of its identity (403).
func (s *Server) mayManage(w http.ResponseWriter, r *http.Request, id string) bool {
	tok := joinToken(r)
	if tok == nil {
		return true
	}
	wl, err := s.cfg.Registry.Get(id)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return false
	}
	if !sameIdentity(wl, tok) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("workload %s has the identity %s; join token %s is for %s",
			id, wl.SPIFFEID, tok.ID, identityName(*tok)))
		return false
	}
	return true
}

func sameIdentity(wl wire.Workload, tok *tokens.Token) bool {
	return wl.Namespace == tok.Namespace && wl.ServiceAccount == tok.ServiceAccount
}

// tokenIdentity restricts a join token caller to the certificate of its own identity, before
// the configured CSRAuthorizer decides.
type tokenIdentity struct{ next CSRAuthorizer }

// AuthorizeCSR refuses a join token caller any identity but its token's.
func (a tokenIdentity) AuthorizeCSR(r *http.Request, id mesh.SPIFFEID, workload *wire.Workload) error {
	if tok := joinToken(r); tok != nil && (id.Namespace != tok.Namespace || id.ServiceAccount != tok.ServiceAccount) {
		granted := mesh.SPIFFEID{TrustDomain: id.TrustDomain, Namespace: tok.Namespace, ServiceAccount: tok.ServiceAccount}
		return fmt.Errorf("join token %s grants only %s", tok.ID, granted)
	}
	return a.next.AuthorizeCSR(r, id, workload)
}
