package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
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

// Caller is who sent an API request: the admin (zero Caller), or a workload identity proven
// by a join token or by a workload certificate that weftd's CA issued.
type Caller struct {
	// JoinToken is the join token the request authenticated with, if it did.
	JoinToken *tokens.Token
	// Certificate is the workload certificate (the TLS client certificate's leaf) the request
	// authenticated with, if it did; CertificateID is its SPIFFE ID.
	Certificate   *x509.Certificate
	CertificateID mesh.SPIFFEID
}

// Identity is the workload identity a caller acts as: a namespace and a service account.
type Identity struct {
	Namespace, ServiceAccount string
}

// Identity returns the identity a join token or certificate caller acts as, and false for
// the admin, who may act as any.
func (c Caller) Identity() (Identity, bool) {
	switch {
	case c.Certificate != nil:
		return Identity{Namespace: c.CertificateID.Namespace, ServiceAccount: c.CertificateID.ServiceAccount}, true
	case c.JoinToken != nil:
		return Identity{Namespace: c.JoinToken.Namespace, ServiceAccount: c.JoinToken.ServiceAccount}, true
	}
	return Identity{}, false
}

// credential names what a non-admin caller authenticated with, for messages: never a secret.
func (c Caller) credential() string {
	if c.Certificate != nil {
		return "client certificate " + c.CertificateID.String()
	}
	if c.JoinToken != nil {
		return "join token " + c.JoinToken.ID
	}
	return "the admin token"
}

type callerKey struct{}

// CallerFrom returns the caller of an authenticated request.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// joinTokenRoutes are the only calls a join token (or a workload certificate) may make; the
// handlers further restrict them to the caller's identity. Every other call, present or
// future, needs the admin token.
var joinTokenRoutes = map[string]bool{
	"POST /v1/workloads":           true,
	"PUT /v1/workloads/{id}/lease": true,
	"DELETE /v1/workloads/{id}":    true,
	"POST /v1/certificates":        true,
}

// authenticate lets a request through with the admin token (every call), or as a workload
// identity (only joinTokenRoutes, found by asking mux which pattern the request matches),
// proven by a valid workload certificate or else by a valid join token. The admin token wins
// when present; a valid certificate wins over any other bearer token, valid or not (weftd
// issued the certificate, so it proves a live identity even once the token that bootstrapped
// the workload expired or was revoked). The admin token is compared in constant time (of
// hashes, so that its length does not leak either). No credential is ever logged or echoed.
func (s *Server) authenticate(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		got := sha256.Sum256([]byte(token))
		if ok && subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1 {
			serveAs(mux, w, r, Caller{})
			return
		}
		caller, certErr := s.certificateCaller(r)
		switch {
		case certErr == nil && caller.Certificate != nil:
			s.serveIdentity(mux, w, r, caller)
		case ok && s.cfg.Tokens != nil && tokens.IsJoinToken(token):
			s.serveJoinToken(mux, w, r, token)
		case certErr != nil:
			s.log.Info("refused a client certificate", "method", r.Method, "path", r.URL.Path, "reason", certErr, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, certErr.Error())
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
	s.serveIdentity(mux, w, r, Caller{JoinToken: &tok})
}

// serveIdentity serves a join token or certificate caller the calls of joinTokenRoutes.
func (s *Server) serveIdentity(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, caller Caller) {
	if _, r.Pattern = mux.Handler(r); !joinTokenRoutes[r.Pattern] {
		id, _ := caller.Identity()
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s may only register, renew and deregister workloads of %s and obtain their certificate; %s %s needs the admin token",
			caller.credential(), identityName(id), r.Method, r.URL.Path))
		return
	}
	serveAs(mux, w, r, caller)
}

// serveAs serves r for caller. r.Pattern is set too, for observe: the mux sets it only on the
// request it serves, which carries the caller and so is a copy.
func serveAs(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, caller Caller) {
	_, r.Pattern = mux.Handler(r)
	mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
}

// identityName names an identity without a trust domain.
func identityName(id Identity) string {
	return fmt.Sprintf("namespace %q, service account %q", id.Namespace, id.ServiceAccount)
}

// callerOf returns the caller of a request served by authenticate.
func callerOf(r *http.Request) Caller {
	c, _ := CallerFrom(r.Context())
	return c
}

// mayRegister answers 403 and returns false when a join token or certificate caller
// registers a workload of another identity, or takes over the ID of a live workload of
// another identity.
func (s *Server) mayRegister(w http.ResponseWriter, r *http.Request, in *wire.Workload) bool {
	caller := callerOf(r)
	id, limited := caller.Identity()
	if !limited {
		return true
	}
	if in.Namespace != id.Namespace || in.ServiceAccount != id.ServiceAccount {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is for %s; workload %s has namespace %q, service account %q",
			caller.credential(), identityName(id), in.ID, in.Namespace, in.ServiceAccount))
		return false
	}
	if old, err := s.cfg.Registry.Get(in.ID); err == nil && !sameIdentity(old, id) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("workload %s is registered with the identity %s; %s, for %s, cannot replace it",
			in.ID, old.SPIFFEID, caller.credential(), identityName(id)))
		return false
	}
	return true
}

// mayManage answers and returns false when a join token or certificate caller renews or
// deregisters a workload that is not live (404) or not of its identity (403).
func (s *Server) mayManage(w http.ResponseWriter, r *http.Request, wid string) bool {
	caller := callerOf(r)
	id, limited := caller.Identity()
	if !limited {
		return true
	}
	wl, err := s.cfg.Registry.Get(wid)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return false
	}
	if !sameIdentity(wl, id) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("workload %s has the identity %s; %s is for %s",
			wid, wl.SPIFFEID, caller.credential(), identityName(id)))
		return false
	}
	return true
}

func sameIdentity(wl wire.Workload, id Identity) bool {
	return wl.Namespace == id.Namespace && wl.ServiceAccount == id.ServiceAccount
}

// tokenIdentity restricts a join token or certificate caller to the certificate of its own
// identity, before the configured CSRAuthorizer decides.
type tokenIdentity struct{ next CSRAuthorizer }

// AuthorizeCSR refuses a join token or certificate caller any identity but its own.
func (a tokenIdentity) AuthorizeCSR(r *http.Request, id mesh.SPIFFEID, workload *wire.Workload) error {
	caller := callerOf(r)
	if own, limited := caller.Identity(); limited && (id.Namespace != own.Namespace || id.ServiceAccount != own.ServiceAccount) {
		granted := mesh.SPIFFEID{TrustDomain: id.TrustDomain, Namespace: own.Namespace, ServiceAccount: own.ServiceAccount}
		return fmt.Errorf("%s grants only %s", caller.credential(), granted)
	}
	return a.next.AuthorizeCSR(r, id, workload)
}
