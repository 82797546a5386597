package v1alpha1

// KindMTLSPolicy is the kind of MTLSPolicy.
const KindMTLSPolicy = "MTLSPolicy"

// Mutual TLS modes of an MTLSPolicy.
const (
	// MTLSModeStrict accepts mutual TLS only: plaintext is refused. The default.
	MTLSModeStrict = "STRICT"
	// MTLSModePermissive accepts mutual TLS and plaintext on the same port, telling them apart
	// by the first bytes of the connection. It is the road from plaintext to STRICT.
	MTLSModePermissive = "PERMISSIVE"
	// MTLSModeDisable accepts plaintext only; callers' proxies send plaintext too.
	MTLSModeDisable = "DISABLE"
)

// Kinds an MTLSPolicy may target.
const (
	MTLSTargetMesh      = "Mesh"
	MTLSTargetNamespace = "Namespace"
	MTLSTargetService   = "Service"
)

// MTLSPolicy sets the mutual TLS mode of the inbound side of workloads: for the whole mesh, a
// namespace, a Service or some of its ports. The most specific policy wins: port, then Service,
// then Namespace, then Mesh; without any, the mode is STRICT.
type MTLSPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     MTLSPolicySpec `json:"spec"`
}

// MTLSPolicySpec is what an MTLSPolicy applies to and the mode it sets.
type MTLSPolicySpec struct {
	// TargetRef says what the policy applies to.
	TargetRef MTLSTargetRef `json:"targetRef"`
	// Mode is STRICT, PERMISSIVE or DISABLE.
	Mode string `json:"mode"`
	// Ports override Mode for some ports of the targeted Service (Service targets only).
	Ports []MTLSPortMode `json:"ports,omitempty"`
}

// MTLSTargetRef names what an MTLSPolicy applies to.
type MTLSTargetRef struct {
	// Kind is Mesh, Namespace or Service.
	Kind string `json:"kind"`
	// Name is "default" for the Mesh, the policy's own namespace for a Namespace, and the name
	// of a Service of the policy's namespace for a Service.
	Name string `json:"name"`
}

// MTLSPortMode is the mode of one port of the targeted Service.
type MTLSPortMode struct {
	// Port is a port of the Service.
	Port int32 `json:"port"`
	// Mode is STRICT, PERMISSIVE or DISABLE.
	Mode string `json:"mode"`
}
