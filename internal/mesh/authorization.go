package mesh

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// defaultAuthorizationPolicy fills in the type and the target names that can only have one
// value: "default" for the Mesh, the policy's own namespace for a Namespace.
func defaultAuthorizationPolicy(p *v1alpha1.AuthorizationPolicy) {
	if p.APIVersion == "" {
		p.APIVersion = v1alpha1.GroupVersion
	}
	if p.Kind == "" {
		p.Kind = v1alpha1.KindAuthorizationPolicy
	}
	t := &p.Spec.TargetRef
	if t.Name == "" {
		switch t.Kind {
		case v1alpha1.AuthorizationTargetMesh:
			t.Name = MeshName
		case v1alpha1.AuthorizationTargetNamespace:
			t.Name = p.Metadata.Namespace
		}
	}
}

func sortAuthorizationPolicies(ps []*v1alpha1.AuthorizationPolicy) {
	slices.SortFunc(ps, func(a, b *v1alpha1.AuthorizationPolicy) int {
		return cmp.Or(cmp.Compare(a.Metadata.Namespace, b.Metadata.Namespace), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
}

// AuthorizationPolicyApplies reports whether p applies to the workloads of Service
// namespace/service: it targets the Mesh, that namespace or that Service.
func AuthorizationPolicyApplies(p *v1alpha1.AuthorizationPolicy, namespace, service string) bool {
	t := p.Spec.TargetRef
	switch t.Kind {
	case v1alpha1.AuthorizationTargetMesh:
		return true
	case v1alpha1.AuthorizationTargetNamespace:
		return t.Name == namespace
	case v1alpha1.AuthorizationTargetService:
		return p.Metadata.Namespace == namespace && t.Name == service
	}
	return false
}

// SplitServiceAccount resolves an entry of a source's serviceAccounts: "NAMESPACE/NAME" names
// both; a plain "NAME" has no namespace of its own (ns is "").
func SplitServiceAccount(s string) (ns, name string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

func validateAuthorizationPolicy(e *errs, p *v1alpha1.AuthorizationPolicy) {
	spec := fieldPath("spec")
	validateAuthorizationTarget(e, spec.child("targetRef"), p)
	switch p.Spec.Action {
	case v1alpha1.AuthorizationAllow, v1alpha1.AuthorizationDeny:
	case v1alpha1.AuthorizationAudit:
		if p.Spec.DryRun {
			e.add(spec.child("dryRun"), "an AUDIT policy never denies: dryRun applies to ALLOW and DENY policies only")
		}
	case "":
		e.add(spec.child("action"), "is required: ALLOW, DENY or AUDIT")
	default:
		e.add(spec.child("action"), "%q is not supported; use ALLOW, DENY or AUDIT", p.Spec.Action)
	}
	rules := spec.child("rules")
	if len(p.Spec.Rules) == 0 {
		e.add(rules, "at least one rule is required (a rule with neither from nor to matches every request)")
	}
	for i, r := range p.Spec.Rules {
		f := rules.index(i)
		for j, src := range r.From {
			validateAuthorizationSource(e, f.child("from").index(j), src)
		}
		for j, op := range r.To {
			validateAuthorizationOperation(e, f.child("to").index(j), op)
		}
	}
}

func validateAuthorizationTarget(e *errs, f fieldPath, p *v1alpha1.AuthorizationPolicy) {
	t := p.Spec.TargetRef
	switch t.Kind {
	case v1alpha1.AuthorizationTargetMesh:
		if t.Name != MeshName {
			e.add(f.child("name"), "%q: the Mesh is named %q", t.Name, MeshName)
		}
	case v1alpha1.AuthorizationTargetNamespace:
		if t.Name != p.Metadata.Namespace {
			e.add(f.child("name"), "%q: a policy can target its own namespace only (%q); create it in namespace %q instead",
				t.Name, p.Metadata.Namespace, t.Name)
		}
	case v1alpha1.AuthorizationTargetService:
		if msg := ValidateDNSLabel(t.Name); msg != "" {
			e.add(f.child("name"), "%s", msg)
		}
	case "":
		e.add(f.child("kind"), "is required: Mesh, Namespace or Service")
	default:
		e.add(f.child("kind"), "%q is not supported; use Mesh, Namespace or Service", t.Kind)
	}
}

func validateAuthorizationSource(e *errs, f fieldPath, s v1alpha1.AuthorizationSource) {
	if len(s.SPIFFEIDs) == 0 && len(s.Namespaces) == 0 && len(s.ServiceAccounts) == 0 {
		e.add(f, "an empty entry matches every caller: name spiffeIDs, namespaces or serviceAccounts, or leave out from")
	}
	for i, id := range s.SPIFFEIDs {
		if err := validateSPIFFEPattern(id); err != nil {
			e.add(f.child("spiffeIDs").index(i), "%v", err)
		}
	}
	for i, ns := range s.Namespaces {
		if msg := ValidateDNSLabel(ns); msg != "" {
			e.add(f.child("namespaces").index(i), "%s", msg)
		}
	}
	for i, sa := range s.ServiceAccounts {
		fi := f.child("serviceAccounts").index(i)
		ns, name := SplitServiceAccount(sa)
		if strings.Contains(sa, "/") {
			if msg := ValidateDNSLabel(ns); msg != "" {
				e.add(fi, "%q: namespace %s", sa, msg)
				continue
			}
		}
		if err := ValidateServiceAccount(name); err != nil {
			e.add(fi, "%q: %v", sa, err)
		}
	}
}

// validateSPIFFEPattern checks an exact SPIFFE ID or a prefix ending in "/*".
func validateSPIFFEPattern(id string) error {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return fmt.Errorf("%q must start with spiffe://", id)
	}
	td, path, _ := strings.Cut(rest, "/")
	if err := ValidateTrustDomain(td); err != nil {
		return fmt.Errorf("%q: %w", id, err)
	}
	if path == "*" {
		return nil
	}
	path = strings.TrimSuffix(path, "/*")
	if path == "" {
		return fmt.Errorf("%q has no path: want spiffe://<trust-domain>/ns/<namespace>/sa/<account>, or a prefix ending in /*", id)
	}
	for _, seg := range strings.Split(path, "/") {
		if err := validateSPIFFESegment(seg); err != nil {
			return fmt.Errorf("%q: %w (only a final /* matches a prefix)", id, err)
		}
	}
	return nil
}

func validateAuthorizationOperation(e *errs, f fieldPath, op v1alpha1.AuthorizationOperation) {
	if len(op.Ports) == 0 && len(op.Methods) == 0 && len(op.Paths) == 0 && len(op.Headers) == 0 {
		e.add(f, "an empty entry matches every request: name ports, methods, paths or headers, or leave out to")
	}
	for i, p := range op.Ports {
		if p < 1 || p > 65535 {
			e.add(f.child("ports").index(i), "%d is out of range 1-65535", p)
		}
	}
	for i, m := range op.Methods {
		switch {
		case m == "" || !isHTTPToken(m):
			e.add(f.child("methods").index(i), "%q is not an HTTP method", m)
		case strings.ToUpper(m) != m:
			e.add(f.child("methods").index(i), "%q: methods are case-sensitive; write %q", m, strings.ToUpper(m))
		}
	}
	for i, p := range op.Paths {
		if msg := validateAuthorizationPath(p); msg != "" {
			e.add(f.child("paths").index(i), "%q: %s", p, msg)
		}
	}
	for i, h := range op.Headers {
		fi := f.child("headers").index(i)
		switch {
		case h.Name == "" || !isHTTPToken(h.Name):
			e.add(fi.child("name"), "%q is not an HTTP header name", h.Name)
		case !validHeaderValue(h.Value):
			e.add(fi.child("value"), "%q has characters a header value cannot have", h.Value)
		}
	}
}

// validateAuthorizationPath checks a policy path: "*", an exact path or a prefix ending in
// "/*", already in the normalised form the proxy matches (no query, no "." or ".." segments,
// no "//", percent-encoding only where it is needed, in upper case, and never of "/" or "\").
// It returns what is wrong, or "".
func validateAuthorizationPath(p string) string {
	if p == "*" {
		return ""
	}
	if !strings.HasPrefix(p, "/") {
		return `must start with "/" (or be "*" for any path)`
	}
	body := strings.TrimSuffix(p, "*")
	if body != p && !strings.HasSuffix(body, "/") {
		return `"*" is allowed only as a final "/*" (a prefix) or alone (any path)`
	}
	if strings.Contains(body, "*") {
		return `"*" is allowed only as a final "/*" (a prefix) or alone (any path)`
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '?' || c == '#':
			return "must not have a query or fragment: paths are matched without them"
		case c == '\\':
			return `must not contain "\": requests with one are refused before any policy is evaluated`
		case c <= ' ' || c >= 0x7f:
			return "has a character that must be percent-encoded"
		case c == '%':
			if i+2 >= len(body) || !isHexDigit(body[i+1]) || !isHexDigit(body[i+2]) {
				return "has a '%' that does not start a percent-encoded byte"
			}
			hi, lo := body[i+1], body[i+2]
			if isLowerHex(hi) || isLowerHex(lo) {
				return "has lower-case percent-encoding: requests are matched with it in upper case"
			}
			b := unhex(hi)<<4 | unhex(lo)
			if b == '/' || b == '\\' {
				return "has an encoded '/' or '\\': requests with one are refused before any policy is evaluated"
			}
			if isUnreservedByte(b) {
				return fmt.Sprintf("has %s, which requests are matched with decoded: write %q", body[i:i+3], string(b))
			}
		}
	}
	for _, seg := range strings.Split(body[1:], "/") {
		if seg == "." || seg == ".." {
			return `has a "." or ".." segment: requests are matched with them resolved`
		}
	}
	if strings.Contains(body, "//") {
		return `has "//": requests are matched with repeated slashes merged`
	}
	return ""
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isLowerHex(c byte) bool { return c >= 'a' && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isUnreservedByte reports an RFC 3986 unreserved character.
func isUnreservedByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// validHeaderValue reports a header value without control characters.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
