package mesh

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// authzPolicy returns an AuthorizationPolicy named p in namespace shop with the given spec
// (YAML, indented by two spaces).
func authzPolicy(spec string) string {
	return "apiVersion: mesh.weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n" + spec
}

func TestDecodeAuthorizationPolicy(t *testing.T) {
	r := mustDecode(t, authzPolicy("  targetRef: {kind: Namespace}\n  action: DENY\n  rules: [{to: [{paths: [/admin/*]}]}]\n"))
	if r.Kind != KindAuthorizationPolicy || r.Namespace != "shop" || r.Name != "p" {
		t.Fatalf("decoded %v", r.Key())
	}
	p := r.Object.(*v1alpha1.AuthorizationPolicy)
	want := v1alpha1.AuthorizationTargetRef{Kind: "Namespace", Name: "shop"}
	if diff := cmp.Diff(want, p.Spec.TargetRef); diff != "" {
		t.Errorf("targetRef defaults (-want +got):\n%s", diff)
	}
	if p.APIVersion != v1alpha1.GroupVersion || p.Kind != v1alpha1.KindAuthorizationPolicy {
		t.Errorf("type meta = %+v", p.TypeMeta)
	}
	mesh := mustDecode(t, authzPolicy("  targetRef: {kind: Mesh}\n  action: AUDIT\n  rules: [{}]\n")).Object.(*v1alpha1.AuthorizationPolicy)
	if mesh.Spec.TargetRef.Name != MeshName {
		t.Errorf("Mesh target name = %q, want %q", mesh.Spec.TargetRef.Name, MeshName)
	}
	if _, err := Decode(mustJSON(t, authzPolicy("  targetRef: {kind: Mesh}\n  action: ALLOW\n  rules: [{from: [{users: [x]}]}]\n"))); err == nil {
		t.Error("an unknown field was accepted")
	}
	if info, ok := LookupKind("authz"); !ok || info.Kind != KindAuthorizationPolicy || info.Plural != "authorizationpolicies" {
		t.Errorf("LookupKind(authz) = %+v, %v", info, ok)
	}
}

func TestValidateAuthorizationPolicy(t *testing.T) {
	const prefix = "AuthorizationPolicy shop/p: "
	tests := []struct {
		name string
		spec string
		want []string
	}{
		{name: "allow from service accounts to paths", spec: `
  targetRef: {kind: Service, name: payments}
  action: ALLOW
  rules:
  - from: [{serviceAccounts: [client, other/batch]}, {namespaces: [ops]}, {spiffeIDs: ["spiffe://weft.local/ns/prod/*", "spiffe://weft.local/ns/a/sa/b"]}]
    to: [{ports: [8080], methods: [GET], paths: ["/api/*", /health, "*", "/a%20b"], headers: [{name: x-role, value: admin}]}]
`},
		{name: "dry-run deny", spec: "  targetRef: {kind: Mesh, name: default}\n  action: DENY\n  dryRun: true\n  rules: [{to: [{paths: [/admin/*]}]}]\n"},
		{name: "target and action", spec: "  targetRef: {kind: Pod, name: x}\n  action: allow\n  rules: [{}]\n",
			want: []string{
				prefix + `spec.targetRef.kind: "Pod" is not supported; use Mesh, Namespace or Service`,
				prefix + `spec.action: "allow" is not supported; use ALLOW, DENY or AUDIT`,
			}},
		{name: "missing target and action", spec: "  rules: [{}]\n",
			want: []string{
				prefix + `spec.targetRef.kind: is required: Mesh, Namespace or Service`,
				prefix + `spec.action: is required: ALLOW, DENY or AUDIT`,
			}},
		{name: "another namespace", spec: "  targetRef: {kind: Namespace, name: prod}\n  action: DENY\n  rules: [{}]\n",
			want: []string{prefix + `spec.targetRef.name: "prod": a policy can target its own namespace only ("shop"); create it in namespace "prod" instead`}},
		{name: "mesh name", spec: "  targetRef: {kind: Mesh, name: main}\n  action: DENY\n  rules: [{}]\n",
			want: []string{prefix + `spec.targetRef.name: "main": the Mesh is named "default"`}},
		{name: "bad service name", spec: "  targetRef: {kind: Service, name: Pay}\n  action: DENY\n  rules: [{}]\n",
			want: []string{prefix + `spec.targetRef.name: "Pay" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`}},
		{name: "dry-run audit and no rules", spec: "  targetRef: {kind: Mesh}\n  action: AUDIT\n  dryRun: true\n",
			want: []string{
				prefix + `spec.dryRun: an AUDIT policy never denies: dryRun applies to ALLOW and DENY policies only`,
				prefix + `spec.rules: at least one rule is required (a rule with neither from nor to matches every request)`,
			}},
		{name: "bad sources", spec: `
  targetRef: {kind: Mesh}
  action: ALLOW
  rules:
  - from:
    - {}
    - spiffeIDs: ["http://x", "spiffe://weft.local", "spiffe://weft.local/ns/*/sa/x", "spiffe://Weft/ns/a"]
      namespaces: [Prod]
      serviceAccounts: ["a/b/c", "-x/y", "bad name"]
`, want: []string{
			prefix + `spec.rules[0].from[0]: an empty entry matches every caller: name spiffeIDs, namespaces or serviceAccounts, or leave out from`,
			prefix + `spec.rules[0].from[1].spiffeIDs[0]: "http://x" must start with spiffe://`,
			prefix + `spec.rules[0].from[1].spiffeIDs[1]: "spiffe://weft.local" has no path: want spiffe://<trust-domain>/ns/<namespace>/sa/<account>, or a prefix ending in /*`,
			prefix + `spec.rules[0].from[1].spiffeIDs[2]: "spiffe://weft.local/ns/*/sa/x": segment "*": character '*' is not allowed (letters, digits, '.', '-', '_') (only a final /* matches a prefix)`,
			prefix + `spec.rules[0].from[1].spiffeIDs[3]: "spiffe://Weft/ns/a": trust domain "Weft": character 'W' is not allowed (lower-case letters, digits, '.', '-', '_')`,
			prefix + `spec.rules[0].from[1].namespaces[0]: "Prod" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`,
			prefix + `spec.rules[0].from[1].serviceAccounts[0]: "a/b/c": service account: segment "b/c": character '/' is not allowed (letters, digits, '.', '-', '_')`,
			prefix + `spec.rules[0].from[1].serviceAccounts[1]: "-x/y": namespace "-x" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`,
			prefix + `spec.rules[0].from[1].serviceAccounts[2]: "bad name": service account: segment "bad name": character ' ' is not allowed (letters, digits, '.', '-', '_')`,
		}},
		{name: "bad operations", spec: `
  targetRef: {kind: Mesh}
  action: DENY
  rules:
  - to:
    - {}
    - ports: [0, 70000]
      methods: [get, "G T"]
      headers: [{name: "x role", value: a}, {name: x-a, value: "a\nb"}]
`, want: []string{
			prefix + `spec.rules[0].to[0]: an empty entry matches every request: name ports, methods, paths or headers, or leave out to`,
			prefix + `spec.rules[0].to[1].ports[0]: 0 is out of range 1-65535`,
			prefix + `spec.rules[0].to[1].ports[1]: 70000 is out of range 1-65535`,
			prefix + `spec.rules[0].to[1].methods[0]: "get": methods are case-sensitive; write "GET"`,
			prefix + `spec.rules[0].to[1].methods[1]: "G T" is not an HTTP method`,
			prefix + `spec.rules[0].to[1].headers[0].name: "x role" is not an HTTP header name`,
			prefix + `spec.rules[0].to[1].headers[1].value: "a\nb" has characters a header value cannot have`,
		}},
		{name: "paths not in normal form", spec: `
  targetRef: {kind: Mesh}
  action: DENY
  rules:
  - to:
    - paths: [admin, "/a*", "/a/*/b", "/a?x=1", "/a\\b", "/%2Fa", "/%2e%2e/a", "/%61", "/a/../b", "/a/./b", "//a", "/a%zz", "/a b"]
`, want: []string{
			prefix + `spec.rules[0].to[0].paths[0]: "admin": must start with "/" (or be "*" for any path)`,
			prefix + `spec.rules[0].to[0].paths[1]: "/a*": "*" is allowed only as a final "/*" (a prefix) or alone (any path)`,
			prefix + `spec.rules[0].to[0].paths[2]: "/a/*/b": "*" is allowed only as a final "/*" (a prefix) or alone (any path)`,
			prefix + `spec.rules[0].to[0].paths[3]: "/a?x=1": must not have a query or fragment: paths are matched without them`,
			prefix + `spec.rules[0].to[0].paths[4]: "/a\\b": must not contain "\": requests with one are refused before any policy is evaluated`,
			prefix + `spec.rules[0].to[0].paths[5]: "/%2Fa": has an encoded '/' or '\': requests with one are refused before any policy is evaluated`,
			prefix + `spec.rules[0].to[0].paths[6]: "/%2e%2e/a": has lower-case percent-encoding: requests are matched with it in upper case`,
			prefix + `spec.rules[0].to[0].paths[7]: "/%61": has %61, which requests are matched with decoded: write "a"`,
			prefix + `spec.rules[0].to[0].paths[8]: "/a/../b": has a "." or ".." segment: requests are matched with them resolved`,
			prefix + `spec.rules[0].to[0].paths[9]: "/a/./b": has a "." or ".." segment: requests are matched with them resolved`,
			prefix + `spec.rules[0].to[0].paths[10]: "//a": has "//": requests are matched with repeated slashes merged`,
			prefix + `spec.rules[0].to[0].paths[11]: "/a%zz": has a '%' that does not start a percent-encoded byte`,
			prefix + `spec.rules[0].to[0].paths[12]: "/a b": has a character that must be percent-encoded`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Validate([]*Resource{mustDecode(t, authzPolicy(tt.spec))}, nil) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthorizationPolicyApplies(t *testing.T) {
	policy := func(ns, kind, name string) *v1alpha1.AuthorizationPolicy {
		return &v1alpha1.AuthorizationPolicy{
			Metadata: v1alpha1.ObjectMeta{Namespace: ns, Name: "p"},
			Spec:     v1alpha1.AuthorizationPolicySpec{TargetRef: v1alpha1.AuthorizationTargetRef{Kind: kind, Name: name}},
		}
	}
	tests := []struct {
		p    *v1alpha1.AuthorizationPolicy
		want bool
	}{
		{policy("ops", "Mesh", "default"), true},
		{policy("shop", "Namespace", "shop"), true},
		{policy("ops", "Namespace", "ops"), false},
		{policy("shop", "Service", "payments"), true},
		{policy("shop", "Service", "cart"), false},
		{policy("ops", "Service", "payments"), false},
		{policy("shop", "Pod", "payments"), false},
	}
	for _, tt := range tests {
		if got := AuthorizationPolicyApplies(tt.p, "shop", "payments"); got != tt.want {
			t.Errorf("%s %s/%s: applies = %v, want %v", tt.p.Metadata.Namespace, tt.p.Spec.TargetRef.Kind, tt.p.Spec.TargetRef.Name, got, tt.want)
		}
	}
}
