package v1alpha1

// KindAuthorizationPolicy is the kind of AuthorizationPolicy.
const KindAuthorizationPolicy = "AuthorizationPolicy"

// Actions of an AuthorizationPolicy.
const (
	// AuthorizationAllow: once an enforced ALLOW policy applies to a workload, a request that
	// no ALLOW rule matches is denied.
	AuthorizationAllow = "ALLOW"
	// AuthorizationDeny: a request that a DENY rule matches is denied. DENY wins over ALLOW.
	AuthorizationDeny = "DENY"
	// AuthorizationAudit: a request that a rule matches is reported (log and metric), never
	// denied.
	AuthorizationAudit = "AUDIT"
)

// Kinds an AuthorizationPolicy may target.
const (
	AuthorizationTargetMesh      = "Mesh"
	AuthorizationTargetNamespace = "Namespace"
	AuthorizationTargetService   = "Service"
)

// AuthorizationPolicy says who may call a workload and what they may ask of it. It applies to
// the inbound side of the workloads of the whole mesh, of a namespace or of a Service; every
// policy that applies to a workload is enforced together (see docs/security-authz.md).
type AuthorizationPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta              `json:"metadata"`
	Spec     AuthorizationPolicySpec `json:"spec"`
}

// AuthorizationPolicySpec is what an AuthorizationPolicy applies to, its action and its rules.
type AuthorizationPolicySpec struct {
	// TargetRef says which workloads the policy applies to.
	TargetRef AuthorizationTargetRef `json:"targetRef"`
	// Action is ALLOW, DENY or AUDIT.
	Action string `json:"action"`
	// DryRun evaluates an ALLOW or DENY policy and reports what it would deny, without denying
	// anything.
	DryRun bool `json:"dryRun,omitempty"`
	// Rules of the policy; at least one. The policy matches a request when one of its rules
	// does.
	Rules []AuthorizationRule `json:"rules"`
}

// AuthorizationTargetRef names what an AuthorizationPolicy applies to.
type AuthorizationTargetRef struct {
	// Kind is Mesh, Namespace or Service.
	Kind string `json:"kind"`
	// Name is "default" for the Mesh, the policy's own namespace for a Namespace, and the name
	// of a Service of the policy's namespace for a Service.
	Name string `json:"name"`
}

// AuthorizationRule matches a request when one of its From entries matches the caller (no
// entry: any caller, with or without an identity) and one of its To entries matches the request
// (no entry: any request).
type AuthorizationRule struct {
	// From lists the callers the rule is about.
	From []AuthorizationSource `json:"from,omitempty"`
	// To lists the requests the rule is about.
	To []AuthorizationOperation `json:"to,omitempty"`
}

// AuthorizationSource matches callers by their verified workload identity (the SPIFFE ID of
// their certificate). Its fields are ANDed; the values of one field are ORed. A caller without
// an identity (plaintext) never matches a source.
type AuthorizationSource struct {
	// SPIFFEIDs are exact SPIFFE IDs, or prefixes ending in "/*"
	// (e.g. "spiffe://weft.local/ns/prod/*").
	SPIFFEIDs []string `json:"spiffeIDs,omitempty"`
	// Namespaces the caller's identity is in.
	Namespaces []string `json:"namespaces,omitempty"`
	// ServiceAccounts are service account names: "NAME" is in the namespaces of this entry
	// (or, when it lists none, in the policy's namespace); "NAMESPACE/NAME" names both.
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// AuthorizationOperation matches requests. Its fields are ANDed; the values of one field are
// ORed. Methods, paths and headers are HTTP conditions: an entry that has any never matches a
// TCP connection.
type AuthorizationOperation struct {
	// Ports are service ports of the workload.
	Ports []int32 `json:"ports,omitempty"`
	// Methods are HTTP methods, e.g. GET (case-sensitive, as HTTP methods are).
	Methods []string `json:"methods,omitempty"`
	// Paths are request paths, matched case-sensitively after normalisation and without the
	// query: "/exact", "/prefix/*" (everything below /prefix/) or "*" (any path).
	Paths []string `json:"paths,omitempty"`
	// Headers must each be present with exactly this value.
	Headers []AuthorizationHeader `json:"headers,omitempty"`
}

// AuthorizationHeader is a request header and the exact value it must have.
type AuthorizationHeader struct {
	// Name of the header, case-insensitive.
	Name string `json:"name"`
	// Value the header must have, exactly.
	Value string `json:"value"`
}
