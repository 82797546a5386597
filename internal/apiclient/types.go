// Package apiclient is the client of weftd's HTTPS API and the wire types it carries. The CLI
// and the proxy use it; weftd's API server uses the same types.
package apiclient

import (
	"encoding/json"

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
	// Token is the bearer credential for the API.
	Token string `json:"token"`
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

// RegisterResponse answers POST /v1/workloads.
type RegisterResponse struct {
	ID           string `json:"id"`
	LeaseSeconds int    `json:"leaseSeconds"`
	SPIFFEID     string `json:"spiffeID"`
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
