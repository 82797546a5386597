// Package apiclient is the client of weftd's HTTPS API and the wire types it carries. The CLI
// and the proxy use it; weftd's API server uses the same types.
package apiclient

import (
	"encoding/json"
	"time"

	"github.com/weftmesh/weft/internal/wire"
)

// ClientConfig is what a client needs to reach weftd: the file weftd writes at first start
// (<data-dir>/client.yaml, mode 0600), read by `weft` (--config, $WEFT_CONFIG or
// ~/.weft/config.yaml) and by `weft-proxy --bootstrap`.
type ClientConfig struct {
	// Server is the API base URL, e.g. https://127.0.0.1:15080.
	Server string `json:"server"`
	// XDS is the host:port of weftd's ADS server (gRPC over mutual TLS).
	XDS string `json:"xds"`
	// Token is the bearer credential for the API; a proxy bootstrap has none (the proxy
	// authenticates with a join token).
	Token string `json:"token,omitempty"`
	// CA is the PEM of the CA that signed weftd's serving certificate.
	CA string `json:"ca"`
}

// ApplyRequest is the body of POST /v1/apply. Resources are JSON objects with apiVersion,
// kind, metadata and spec. Source names where each came from (file and document index) so
// errors can name it; it is optional and parallel to Resources.
type ApplyRequest struct {
	Resources []json.RawMessage `json:"resources"`
	Sources   []string          `json:"sources,omitempty"`
	DryRun    bool              `json:"dryRun,omitempty"`
}

// ApplyResponse is the answer to a successful apply.
type ApplyResponse struct {
	Results []ApplyResult `json:"results"`
}

// ApplyResult reports what happened to one resource.
type ApplyResult struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Action is created, configured or unchanged.
	Action string `json:"action"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Message string        `json:"error"`
	Details []ErrorDetail `json:"details,omitempty"`
}

// ErrorDetail names what was wrong with one resource of a request.
type ErrorDetail struct {
	Index     int    `json:"index"`
	Source    string `json:"source,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Field     string `json:"field,omitempty"`
	Message   string `json:"message"`
}

// ResourceList is the answer to GET /v1/resources/{kind}.
type ResourceList struct {
	Items []json.RawMessage `json:"items"`
}

// WorkloadList is the answer to GET /v1/workloads.
type WorkloadList struct {
	Items []wire.Workload `json:"items"`
}

// RegisterResponse answers POST /v1/workloads and PUT /v1/workloads/{id}/lease.
type RegisterResponse struct {
	ID           string `json:"id"`
	LeaseSeconds int    `json:"leaseSeconds"`
	SPIFFEID     string `json:"spiffeID"`
	// RenewCertificate asks the proxy to renew its certificate now: the last one weftd
	// issued it was not signed by the CA that signs now (a CA rotation is under way).
	RenewCertificate bool `json:"renewCertificate,omitempty"`
}

// CertificateRequest is the body of POST /v1/certificates.
type CertificateRequest struct {
	// CSR is a PEM "CERTIFICATE REQUEST" whose only URI SAN is the SPIFFE ID asked for.
	CSR string `json:"csr"`
	// WorkloadID, when set, records the issued certificate's expiry on that workload.
	WorkloadID string `json:"workloadID,omitempty"`
}

// CertificateResponse carries the signed certificate.
type CertificateResponse struct {
	// CertificateChain is PEM: the leaf first, then any intermediates.
	CertificateChain string `json:"certificateChain"`
	// TrustBundle is PEM: the roots peers chain to.
	TrustBundle string `json:"trustBundle"`
}

// VersionInfo answers GET /v1/version.
type VersionInfo struct {
	Version string `json:"version"`
}

// Limits of a join token's lifetime (CreateJoinTokenRequest.TTLSeconds). weftd enforces them
// (internal/tokens defines its limits as these); the CLI and the demo check and pick lifetimes
// with them, so that all three agree.
const (
	// DefaultJoinTokenTTL is the lifetime of a token whose request gives none.
	DefaultJoinTokenTTL = time.Hour
	// MinJoinTokenTTL is the shortest lifetime weftd accepts.
	MinJoinTokenTTL = time.Minute
	// MaxJoinTokenTTL is the longest lifetime weftd accepts: 30 days.
	MaxJoinTokenTTL = 30 * 24 * time.Hour
)

// CreateJoinTokenRequest is the body of POST /v1/tokens: a join token for one identity.
type CreateJoinTokenRequest struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// TTLSeconds is how long the token is valid: default DefaultJoinTokenTTL (3600), from
	// MinJoinTokenTTL to MaxJoinTokenTTL (30 days).
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
}

// JoinToken describes a join token. It never holds the token's secret.
type JoinToken struct {
	// ID names the token (it is the middle part of the token) in listings and revocations.
	ID             string `json:"id"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// SPIFFEID is the identity the token grants, in the mesh's current trust domain.
	SPIFFEID  string     `json:"spiffeID"`
	Created   time.Time  `json:"created"`
	Expiry    time.Time  `json:"expiry"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// CreateJoinTokenResponse answers POST /v1/tokens.
type CreateJoinTokenResponse struct {
	JoinToken
	// Token is the credential, weft-jt.<id>.<secret>. weftd keeps only a hash of the secret:
	// this answer is the only time the token is shown.
	Token string `json:"token"`
}

// JoinTokenList is the answer to GET /v1/tokens.
type JoinTokenList struct {
	Items []JoinToken `json:"items"`
}

// CARotateRequest is the body of POST /v1/ca/rotate: rotate to a new built-in root
// (Builtin), or to the intermediate CA of the organisation's PKI whose files are named (paths
// on weftd's machine).
type CARotateRequest struct {
	Builtin   bool   `json:"builtin,omitempty"`
	CertFile  string `json:"certFile,omitempty"`
	KeyFile   string `json:"keyFile,omitempty"`
	ChainFile string `json:"chainFile,omitempty"`
	RootFile  string `json:"rootFile,omitempty"`
}

// CAStatus answers GET /v1/ca/status and POST /v1/ca/rotate.
type CAStatus struct {
	// Phase is idle (no rotation), trust (the new roots join every proxy's trust bundle),
	// reissue (the new CA signs; workloads renew) or retire (the old roots leave the bundle).
	Phase string `json:"phase"`
	// Started and PhaseSince time the rotation and its phase.
	Started    *time.Time `json:"started,omitempty"`
	PhaseSince *time.Time `json:"phaseSince,omitempty"`
	// Signing is the CA that signs workload certificates, Issuer its certificate.
	Signing CASource      `json:"signing"`
	Issuer  CACertificate `json:"issuer"`
	// Target is the CA a rotation moves to, until it signs; Previous the CA it moves from,
	// once it does not sign any more.
	Target   *CASource `json:"target,omitempty"`
	Previous *CASource `json:"previous,omitempty"`
	// Roots are the certificates of the trust bundle every proxy gets.
	Roots []CARoot `json:"roots"`
	// Lagging are the proxies or workloads the phase waits for (at most 100); LaggingTotal
	// counts them all.
	Lagging      []CALaggard `json:"lagging,omitempty"`
	LaggingTotal int         `json:"laggingTotal,omitempty"`
	// Error says why the rotation cannot go on, if it cannot.
	Error string `json:"error,omitempty"`
}

// CASource says where a CA's certificate and key come from.
type CASource struct {
	// Type is builtin or files.
	Type string `json:"type"`
	// Dir is the directory of a built-in root on weftd's machine.
	Dir string `json:"dir,omitempty"`
	// CertFile, KeyFile, ChainFile and RootFile are the files of a files CA.
	CertFile  string `json:"certFile,omitempty"`
	KeyFile   string `json:"keyFile,omitempty"`
	ChainFile string `json:"chainFile,omitempty"`
	RootFile  string `json:"rootFile,omitempty"`
}

// CACertificate describes a CA certificate.
type CACertificate struct {
	Subject string `json:"subject"`
	// Fingerprint is its SHA-256 fingerprint as `openssl x509 -noout -fingerprint -sha256`
	// prints it.
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

// CARoot is one root of the trust bundle.
type CARoot struct {
	CACertificate
	// Role is current, incoming (the rotation's new root, trusted before it signs) or
	// outgoing (the old root, trusted until every workload has renewed).
	Role string `json:"role"`
	// Signs is true for the root the signing CA's certificates chain to.
	Signs bool `json:"signs"`
}

// CALaggard is a proxy or a workload a rotation phase waits for.
type CALaggard struct {
	// Kind is proxy (an xDS node) or workload (a registered workload).
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}
