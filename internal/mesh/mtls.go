package mesh

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// KindMTLSPolicy is the kind of the policy that sets the mutual TLS mode of workloads.
const KindMTLSPolicy = v1alpha1.KindMTLSPolicy

// DefaultMTLSMode is the mode of a service port that no MTLSPolicy covers.
const DefaultMTLSMode = v1alpha1.MTLSModeStrict

// Minimum TLS versions a Mesh may require between proxies.
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
	// DefaultMinTLSVersion is the minimum when the Mesh does not set one.
	DefaultMinTLSVersion = TLSVersion13
)

// Levels of the MTLSPolicy precedence, most specific first.
const (
	MTLSLevelPort      = "port"
	MTLSLevelService   = "Service"
	MTLSLevelNamespace = "Namespace"
	MTLSLevelMesh      = "Mesh"
	MTLSLevelDefault   = "default"
)

// MTLSMode is the effective mutual TLS mode of one service port and what set it.
type MTLSMode struct {
	// Mode is STRICT, PERMISSIVE or DISABLE.
	Mode string
	// Level is the level of the rule that set it: port, Service, Namespace, Mesh, or default
	// when no policy covers the port.
	Level string
	// Policy is the namespace/name of the MTLSPolicy that set it; empty for the default.
	Policy string
}

// String renders, e.g., "PERMISSIVE (MTLSPolicy default/legacy, port 8080)" or "STRICT (default)".
func (m MTLSMode) String() string {
	switch m.Level {
	case MTLSLevelDefault, "":
		return m.Mode + " (default)"
	case MTLSLevelPort:
		return fmt.Sprintf("%s (MTLSPolicy %s, port override)", m.Mode, m.Policy)
	}
	return fmt.Sprintf("%s (MTLSPolicy %s, %s level)", m.Mode, m.Policy, m.Level)
}

// EffectiveMTLSMode resolves the mutual TLS mode of port of the Service namespace/service from
// policies (in any order): a port override of a policy targeting the Service wins, then the
// policy targeting the Service, then the one targeting the namespace, then the one targeting
// the Mesh; without any, STRICT. Validation refuses two policies for the same target; should
// the list still hold some, the first by namespace/name wins, so the result is deterministic.
func EffectiveMTLSMode(policies []*v1alpha1.MTLSPolicy, namespace, service string, port int32) MTLSMode {
	sorted := slices.Clone(policies)
	slices.SortFunc(sorted, func(a, b *v1alpha1.MTLSPolicy) int {
		return cmp.Or(cmp.Compare(policyNamespace(a), policyNamespace(b)), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	var svcLevel, nsLevel, meshLevel *MTLSMode
	for _, p := range sorted {
		ns := policyNamespace(p)
		name := ns + "/" + p.Metadata.Name
		ref := p.Spec.TargetRef
		switch {
		case ref.Kind == v1alpha1.MTLSTargetService && ns == namespace && ref.Name == service:
			for _, pm := range p.Spec.Ports {
				if pm.Port == port {
					return MTLSMode{Mode: pm.Mode, Level: MTLSLevelPort, Policy: name}
				}
			}
			if svcLevel == nil {
				svcLevel = &MTLSMode{Mode: p.Spec.Mode, Level: MTLSLevelService, Policy: name}
			}
		case ref.Kind == v1alpha1.MTLSTargetNamespace && ns == namespace:
			if nsLevel == nil {
				nsLevel = &MTLSMode{Mode: p.Spec.Mode, Level: MTLSLevelNamespace, Policy: name}
			}
		case ref.Kind == v1alpha1.MTLSTargetMesh:
			if meshLevel == nil {
				meshLevel = &MTLSMode{Mode: p.Spec.Mode, Level: MTLSLevelMesh, Policy: name}
			}
		}
	}
	for _, m := range []*MTLSMode{svcLevel, nsLevel, meshLevel} {
		if m != nil {
			return *m
		}
	}
	return MTLSMode{Mode: DefaultMTLSMode, Level: MTLSLevelDefault}
}

// MTLSMode returns the effective mutual TLS mode of a service port in the snapshot.
func (s *Snapshot) MTLSMode(namespace, service string, port int32) MTLSMode {
	return EffectiveMTLSMode(s.MTLSPolicies, namespace, service, port)
}

// MinTLSVersion returns the Mesh's minimum TLS version between proxies, "1.2" or "1.3".
func MinTLSVersion(m *v1alpha1.Mesh) string {
	if m != nil && m.Spec.TLS != nil && m.Spec.TLS.MinVersion != "" {
		return m.Spec.TLS.MinVersion
	}
	return DefaultMinTLSVersion
}

func policyNamespace(p *v1alpha1.MTLSPolicy) string {
	if p.Metadata.Namespace == "" {
		return DefaultNamespace
	}
	return p.Metadata.Namespace
}

// defaultMeshTLS fills in the minimum TLS version.
func defaultMeshTLS(m *v1alpha1.Mesh) {
	if m.Spec.TLS == nil {
		m.Spec.TLS = &v1alpha1.MeshTLSSpec{}
	}
	if m.Spec.TLS.MinVersion == "" {
		m.Spec.TLS.MinVersion = DefaultMinTLSVersion
	}
}

func validateMeshTLS(e *errs, m *v1alpha1.Mesh) {
	if m.Spec.TLS == nil {
		return
	}
	switch v := m.Spec.TLS.MinVersion; v {
	case "", TLSVersion12, TLSVersion13:
	default:
		e.add("spec.tls.minVersion", "%q is not supported; use \"1.2\" or \"1.3\"", v)
	}
}

func defaultMTLSPolicy(p *v1alpha1.MTLSPolicy) {
	if p.APIVersion == "" {
		p.APIVersion = v1alpha1.GroupVersion
	}
	if p.Kind == "" {
		p.Kind = v1alpha1.KindMTLSPolicy
	}
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = DefaultNamespace
	}
}

// mtlsModes are the modes a policy may set.
var mtlsModes = []string{v1alpha1.MTLSModeStrict, v1alpha1.MTLSModePermissive, v1alpha1.MTLSModeDisable}

func checkMTLSMode(e *errs, field fieldPath, mode string) {
	if !slices.Contains(mtlsModes, mode) {
		if mode == "" {
			e.add(field, "is required: STRICT, PERMISSIVE or DISABLE")
			return
		}
		e.add(field, "%q is not a mode; use STRICT, PERMISSIVE or DISABLE", mode)
	}
}

// validateMTLSPolicy checks the fields of one policy, without looking at other resources.
func validateMTLSPolicy(e *errs, p *v1alpha1.MTLSPolicy) {
	ns := policyNamespace(p)
	ref := p.Spec.TargetRef
	checkMTLSMode(e, "spec.mode", p.Spec.Mode)
	switch ref.Kind {
	case v1alpha1.MTLSTargetMesh:
		if ref.Name != MeshName {
			e.add("spec.targetRef.name", "%q is not the Mesh: a Mesh target is named %q", ref.Name, MeshName)
		}
	case v1alpha1.MTLSTargetNamespace:
		if ref.Name != ns {
			e.add("spec.targetRef.name", "%q is not the policy's namespace %q: a policy can only target its own namespace (apply it in namespace %q instead)", ref.Name, ns, ref.Name)
		}
	case v1alpha1.MTLSTargetService:
		if msg := ValidateDNSLabel(ref.Name); msg != "" {
			e.add("spec.targetRef.name", "%s", msg)
		}
	case "":
		e.add("spec.targetRef.kind", "is required: Mesh, Namespace or Service")
	default:
		e.add("spec.targetRef.kind", "%q is not supported; use Mesh, Namespace or Service", ref.Kind)
	}
	ports := fieldPath("spec.ports")
	if len(p.Spec.Ports) > 0 && ref.Kind != v1alpha1.MTLSTargetService {
		e.add(ports, "port overrides need a Service target (spec.targetRef.kind: Service)")
		return
	}
	seen := map[int32]int{}
	for i, pm := range p.Spec.Ports {
		f := ports.index(i)
		if pm.Port < 1 || pm.Port > 65535 {
			e.add(f.child("port"), "%d is out of range 1-65535", pm.Port)
		} else if j, dup := seen[pm.Port]; dup {
			e.add(f.child("port"), "%d is already set by spec.ports[%d]", pm.Port, j)
		} else {
			seen[pm.Port] = i
		}
		checkMTLSMode(e, f.child("mode"), pm.Mode)
	}
}

// mtlsScope names what a policy sets the mode of, at its level: two policies with the same
// scope conflict.
func mtlsScope(p *v1alpha1.MTLSPolicy) string {
	switch p.Spec.TargetRef.Kind {
	case v1alpha1.MTLSTargetMesh:
		return "the Mesh"
	case v1alpha1.MTLSTargetNamespace:
		return "namespace " + policyNamespace(p)
	}
	return "Service " + policyNamespace(p) + "/" + p.Spec.TargetRef.Name
}

// checkMTLSPolicies checks what MTLSPolicies refer to in the set a store would hold after the
// batch: a policy may not share its target with another policy, a Service target must exist
// with the ports the policy overrides, and a changed Service must keep the ports stored
// policies override.
func checkMTLSPolicies(batch []*Resource, v *view, inBatch map[Key]int) ErrorList {
	var policies []*Resource
	for _, r := range v.byKey {
		if r.Kind == KindMTLSPolicy {
			policies = append(policies, r)
		}
	}
	slices.SortFunc(policies, func(a, b *Resource) int { return compareKeys(a.Key(), b.Key()) })
	var all ErrorList
	for i, r := range batch {
		e := &errs{res: r, idx: i}
		switch o := r.Object.(type) {
		case *v1alpha1.MTLSPolicy:
			for _, other := range policies {
				op := other.Object.(*v1alpha1.MTLSPolicy)
				if other.Key() == r.Key() || mtlsScope(op) != mtlsScope(o) {
					continue
				}
				e.add("spec.targetRef", "MTLSPolicy %s/%s already sets the mode of %s: there can be one policy per target at each level (change that policy, or delete it first)",
					other.Namespace, other.Name, mtlsScope(o))
			}
			if o.Spec.TargetRef.Kind == v1alpha1.MTLSTargetService {
				checkMTLSServiceTarget(e, o, v, "")
			}
		case *v1alpha1.Service:
			for _, other := range policies {
				if _, ok := inBatch[other.Key()]; ok {
					continue
				}
				op := other.Object.(*v1alpha1.MTLSPolicy)
				if op.Spec.TargetRef.Kind != v1alpha1.MTLSTargetService || policyNamespace(op) != r.Namespace || op.Spec.TargetRef.Name != r.Name {
					continue
				}
				checkMTLSServiceTarget(e, op, v, fmt.Sprintf("would break MTLSPolicy %s/%s: ", other.Namespace, other.Name))
			}
		}
		all = append(all, e.list...)
	}
	return all
}

// checkMTLSServiceTarget checks that the Service a policy targets exists and has the ports
// it overrides. prefix leads the messages when the error is reported on the Service.
func checkMTLSServiceTarget(e *errs, p *v1alpha1.MTLSPolicy, v *view, prefix string) {
	key := Key{Kind: KindService, Namespace: policyNamespace(p), Name: p.Spec.TargetRef.Name}
	target, ok := v.byKey[key]
	if !ok {
		e.add("spec.targetRef.name", "%s%s does not exist", prefix, key)
		return
	}
	svc := target.Object.(*v1alpha1.Service)
	for i, pm := range p.Spec.Ports {
		if _, ok := servicePort(svc, func(sp v1alpha1.ServicePort) bool { return sp.Port == pm.Port }); !ok {
			field := fieldPath("spec.ports").index(i).child("port")
			if prefix != "" {
				field = "spec.ports"
			}
			e.add(field, "%s%s has no port %d", prefix, key, pm.Port)
		}
	}
}

// mtlsPolicyReferrers reports the stored policies that target the Service key, which therefore
// may not be deleted.
func mtlsPolicyReferrers(key Key, existing []*Resource) ErrorList {
	if key.Kind != KindService {
		return nil
	}
	var out ErrorList
	for _, r := range existing {
		p, ok := r.Object.(*v1alpha1.MTLSPolicy)
		if !ok || p.Spec.TargetRef.Kind != v1alpha1.MTLSTargetService ||
			policyNamespace(p) != key.Namespace || p.Spec.TargetRef.Name != key.Name {
			continue
		}
		out = append(out, &FieldError{
			Index: -1, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name,
			Message: fmt.Sprintf("is the target of %s; delete or change the policy first", r.Key()),
		})
	}
	return out
}

// validateServerFirst checks that only a tcp port declares the server speaks first.
func validateServerFirst(e *errs, f fieldPath, p v1alpha1.ServicePort) {
	if p.ServerFirst && p.AppProtocol != v1alpha1.ProtocolTCP {
		e.add(f.child("serverFirst"), "is only valid with appProtocol tcp (an HTTP client always speaks first)")
	}
}
