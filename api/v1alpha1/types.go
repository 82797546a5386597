// Package v1alpha1 holds Weft's own resource types in the API group mesh.weft.dev/v1alpha1.
//
// Resources are Kubernetes-style: apiVersion, kind, metadata and spec. Routing uses the
// Kubernetes Gateway API types (HTTPRoute, Gateway); what the Gateway API lacks is defined here.
package v1alpha1

// GroupVersion is the apiVersion of every resource defined in this package.
const GroupVersion = "mesh.weft.dev/v1alpha1"

// Group is the API group of Weft's resources.
const Group = "mesh.weft.dev"

// Kinds defined in this package.
const (
	KindMesh    = "Mesh"
	KindService = "Service"
)

// ObjectMeta is the subset of Kubernetes object metadata that Weft keeps.
type ObjectMeta struct {
	// Name of the resource, a DNS label (lower case, digits and '-', at most 63 characters).
	Name string `json:"name"`
	// Namespace of the resource. Empty means "default" for namespaced kinds; Mesh is cluster-scoped.
	Namespace string `json:"namespace,omitempty"`
	// Labels are free-form key/value pairs.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form key/value pairs that Weft does not interpret.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Generation is set by weftd: it increases on every change of the spec.
	Generation int64 `json:"generation,omitempty"`
	// ResourceVersion is set by weftd: an opaque version of the stored object.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// CreationTimestamp is set by weftd (RFC 3339).
	CreationTimestamp string `json:"creationTimestamp,omitempty"`
}

// TypeMeta names the kind of a resource.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Mesh holds mesh-wide settings. There is at most one, named "default".
type Mesh struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     MeshSpec   `json:"spec"`
}

// MeshSpec is the mesh-wide configuration.
type MeshSpec struct {
	// TrustDomain is the SPIFFE trust domain of every workload identity:
	// spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. Default "weft.local".
	TrustDomain string `json:"trustDomain,omitempty"`
	// Defaults applied to every service unless a more specific policy says otherwise.
	Defaults *MeshDefaults `json:"defaults,omitempty"`
	// CA selects the certificate authority that signs workload certificates. Default: builtin.
	CA *CASpec `json:"ca,omitempty"`
	// Certificates configures workload certificates.
	Certificates *CertificateSpec `json:"certificates,omitempty"`
	// TLS configures the mutual TLS between proxies.
	TLS *MeshTLSSpec `json:"tls,omitempty"`
}

// CA backends.
const (
	CATypeBuiltin = "builtin"
	CATypeFiles   = "files"
)

// CASpec selects and configures the certificate authority.
type CASpec struct {
	// Type is builtin (a self-signed root weftd creates, for development) or files (an
	// intermediate CA of the organisation's PKI, read from files on weftd's machine).
	Type string `json:"type"`
	// Files configures the files backend.
	Files *CAFiles `json:"files,omitempty"`
}

// CAFiles names the files of an intermediate CA on weftd's machine.
type CAFiles struct {
	// CertFile is the PEM certificate of the CA that signs workload certificates.
	CertFile string `json:"certFile"`
	// KeyFile is its PEM private key (weftd refuses a key file readable by others).
	KeyFile string `json:"keyFile"`
	// ChainFile holds the PEM certificates between CertFile and the root, if any.
	ChainFile string `json:"chainFile,omitempty"`
	// RootFile is the PEM root certificate(s) peers trust.
	RootFile string `json:"rootFile"`
}

// CertificateSpec configures workload certificates.
type CertificateSpec struct {
	// Lifetime of a workload certificate (Go duration). Proxies renew at half-life. Default 24h.
	Lifetime string `json:"lifetime,omitempty"`
}

// MeshTLSSpec configures TLS between proxies.
type MeshTLSSpec struct {
	// MinVersion is the lowest TLS version a proxy accepts: "1.2" or "1.3". Default "1.3".
	MinVersion string `json:"minVersion,omitempty"`
}

// MeshDefaults are mesh-wide defaults.
type MeshDefaults struct {
	// ConnectTimeout is the default timeout to open an upstream connection (Go duration, e.g. "2s").
	// Default "5s".
	ConnectTimeout string `json:"connectTimeout,omitempty"`
}

// DefaultTrustDomain is the trust domain used when the Mesh does not set one.
const DefaultTrustDomain = "weft.local"

// Service is a local-mode service: a name that clients call and the workloads that serve it.
type Service struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ServiceSpec `json:"spec"`
}

// ServiceSpec describes the ports of a service and which workloads serve it.
type ServiceSpec struct {
	// Ports the service exposes. At least one.
	Ports []ServicePort `json:"ports"`
	// Selector picks the workloads that serve this service by their labels. When empty, the
	// service is served by the workloads registered with this service's name.
	Selector map[string]string `json:"selector,omitempty"`
}

// ServicePort is one port of a service.
type ServicePort struct {
	// Name of the port, a DNS label. Optional when there is a single port.
	Name string `json:"name,omitempty"`
	// Port number, 1-65535. Workloads serve the port under the same number.
	Port int32 `json:"port"`
	// AppProtocol is one of http, http2, grpc, tcp. Default http.
	AppProtocol string `json:"appProtocol,omitempty"`
	// ServerFirst declares that the server speaks first (it sends a banner, as SMTP or MySQL
	// do, and the client waits for it). Only with appProtocol tcp. Under PERMISSIVE mTLS, the
	// proxy then waits only briefly (20ms instead of 100ms) for a TLS ClientHello before it
	// treats a silent connection as plaintext. See docs/security-mtls.md.
	ServerFirst bool `json:"serverFirst,omitempty"`
}

// App protocols a ServicePort may declare.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTP2 = "http2"
	ProtocolGRPC  = "grpc"
	ProtocolTCP   = "tcp"
)
