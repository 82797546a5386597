package mesh

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// mtlsPolicy returns an MTLSPolicy named name in namespace ns with the given spec (YAML,
// indented by two spaces).
func mtlsPolicy(ns, name, spec string) string {
	return "apiVersion: mesh.weft.dev/v1alpha1\nkind: MTLSPolicy\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + spec
}

func policyOf(ns, name, kind, target, mode string, ports ...v1alpha1.MTLSPortMode) *v1alpha1.MTLSPolicy {
	return &v1alpha1.MTLSPolicy{
		Metadata: v1alpha1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MTLSPolicySpec{
			TargetRef: v1alpha1.MTLSTargetRef{Kind: kind, Name: target},
			Mode:      mode, Ports: ports,
		},
	}
}

func TestEffectiveMTLSMode(t *testing.T) {
	const (
		strict     = v1alpha1.MTLSModeStrict
		permissive = v1alpha1.MTLSModePermissive
		disable    = v1alpha1.MTLSModeDisable
	)
	meshWide := policyOf("istio-root", "mesh", "Mesh", "default", permissive)
	shopNS := policyOf("shop", "ns", "Namespace", "shop", disable)
	shopAPI := policyOf("shop", "api", "Service", "api", strict,
		v1alpha1.MTLSPortMode{Port: 9000, Mode: permissive})
	otherAPI := policyOf("other", "api", "Service", "api", disable)
	tests := []struct {
		name     string
		policies []*v1alpha1.MTLSPolicy
		ns, svc  string
		port     int32
		want     MTLSMode
	}{
		{name: "no policy: STRICT by default", ns: "shop", svc: "api", port: 80,
			want: MTLSMode{Mode: strict, Level: MTLSLevelDefault}},
		{name: "mesh-wide", policies: []*v1alpha1.MTLSPolicy{meshWide}, ns: "shop", svc: "api", port: 80,
			want: MTLSMode{Mode: permissive, Level: MTLSLevelMesh, Policy: "istio-root/mesh"}},
		{name: "namespace beats mesh", policies: []*v1alpha1.MTLSPolicy{meshWide, shopNS}, ns: "shop", svc: "web", port: 80,
			want: MTLSMode{Mode: disable, Level: MTLSLevelNamespace, Policy: "shop/ns"}},
		{name: "namespace policy of another namespace does not apply", policies: []*v1alpha1.MTLSPolicy{meshWide, shopNS}, ns: "billing", svc: "web", port: 80,
			want: MTLSMode{Mode: permissive, Level: MTLSLevelMesh, Policy: "istio-root/mesh"}},
		{name: "service beats namespace", policies: []*v1alpha1.MTLSPolicy{shopNS, shopAPI, meshWide}, ns: "shop", svc: "api", port: 80,
			want: MTLSMode{Mode: strict, Level: MTLSLevelService, Policy: "shop/api"}},
		{name: "port beats service", policies: []*v1alpha1.MTLSPolicy{shopNS, shopAPI, meshWide}, ns: "shop", svc: "api", port: 9000,
			want: MTLSMode{Mode: permissive, Level: MTLSLevelPort, Policy: "shop/api"}},
		{name: "service policy of the same name in another namespace does not apply", policies: []*v1alpha1.MTLSPolicy{otherAPI}, ns: "shop", svc: "api", port: 80,
			want: MTLSMode{Mode: strict, Level: MTLSLevelDefault}},
		{name: "other service's policy does not apply", policies: []*v1alpha1.MTLSPolicy{shopAPI}, ns: "shop", svc: "web", port: 9000,
			want: MTLSMode{Mode: strict, Level: MTLSLevelDefault}},
		{name: "conflicting policies: first by namespace/name wins, in any order",
			policies: []*v1alpha1.MTLSPolicy{policyOf("shop", "b", "Namespace", "shop", disable), policyOf("shop", "a", "Namespace", "shop", permissive)},
			ns:       "shop", svc: "web", port: 80,
			want: MTLSMode{Mode: permissive, Level: MTLSLevelNamespace, Policy: "shop/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EffectiveMTLSMode(tt.policies, tt.ns, tt.svc, tt.port)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EffectiveMTLSMode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMTLSModeString(t *testing.T) {
	tests := map[MTLSMode]string{
		{Mode: "STRICT", Level: MTLSLevelDefault}:                             "STRICT (default)",
		{Mode: "PERMISSIVE", Level: MTLSLevelPort, Policy: "shop/api"}:        "PERMISSIVE (MTLSPolicy shop/api, port override)",
		{Mode: "DISABLE", Level: MTLSLevelNamespace, Policy: "shop/everyone"}: "DISABLE (MTLSPolicy shop/everyone, Namespace level)",
	}
	for m, want := range tests {
		if got := m.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", m, got, want)
		}
	}
}

func TestValidateMTLSPolicy(t *testing.T) {
	const (
		api = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  ports: [{name: http, port: 8080}, {name: smtp, port: 2525, appProtocol: tcp, serverFirst: true}]
`
	)
	tests := []struct {
		name     string
		existing []string
		batch    []string
		want     []string
	}{
		{name: "valid policies at every level", existing: []string{api}, batch: []string{
			mtlsPolicy("weft-system", "mesh", "  targetRef: {kind: Mesh, name: default}\n  mode: STRICT\n"),
			mtlsPolicy("shop", "ns", "  targetRef: {kind: Namespace, name: shop}\n  mode: PERMISSIVE\n"),
			mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n  ports: [{port: 2525, mode: DISABLE}]\n"),
		}},
		{name: "policy and its Service in one apply", batch: []string{api,
			mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: PERMISSIVE\n")}},
		{name: "bad modes", existing: []string{api}, batch: []string{
			mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: strict\n  ports: [{port: 8080, mode: NONE}, {port: 2525}]\n")},
			want: []string{
				`MTLSPolicy shop/api: spec.mode: "strict" is not a mode; use STRICT, PERMISSIVE or DISABLE`,
				`MTLSPolicy shop/api: spec.ports[0].mode: "NONE" is not a mode; use STRICT, PERMISSIVE or DISABLE`,
				`MTLSPolicy shop/api: spec.ports[1].mode: is required: STRICT, PERMISSIVE or DISABLE`,
			}},
		{name: "missing target and mode", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {name: shop}\n")},
			want: []string{
				`MTLSPolicy shop/x: spec.mode: is required: STRICT, PERMISSIVE or DISABLE`,
				`MTLSPolicy shop/x: spec.targetRef.kind: is required: Mesh, Namespace or Service`,
			}},
		{name: "unknown target kind", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {kind: Pod, name: p}\n  mode: STRICT\n")},
			want: []string{`MTLSPolicy shop/x: spec.targetRef.kind: "Pod" is not supported; use Mesh, Namespace or Service`}},
		{name: "namespace target must be its own namespace", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {kind: Namespace, name: billing}\n  mode: STRICT\n")},
			want: []string{`MTLSPolicy shop/x: spec.targetRef.name: "billing" is not the policy's namespace "shop": a policy can only target its own namespace (apply it in namespace "billing" instead)`}},
		{name: "mesh target is named default", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {kind: Mesh, name: prod}\n  mode: STRICT\n")},
			want: []string{`MTLSPolicy shop/x: spec.targetRef.name: "prod" is not the Mesh: a Mesh target is named "default"`}},
		{name: "ports need a Service target", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {kind: Namespace, name: shop}\n  mode: STRICT\n  ports: [{port: 80, mode: DISABLE}]\n")},
			want: []string{`MTLSPolicy shop/x: spec.ports: port overrides need a Service target (spec.targetRef.kind: Service)`}},
		{name: "port out of range and twice", existing: []string{api}, batch: []string{
			mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n  ports: [{port: 0, mode: STRICT}, {port: 8080, mode: DISABLE}, {port: 8080, mode: STRICT}]\n")},
			want: []string{
				`MTLSPolicy shop/api: spec.ports[0].port: 0 is out of range 1-65535`,
				`MTLSPolicy shop/api: spec.ports[2].port: 8080 is already set by spec.ports[1]`,
				`MTLSPolicy shop/api: spec.ports[0].port: Service shop/api has no port 0`,
			}},
		{name: "service does not exist", batch: []string{mtlsPolicy("shop", "x", "  targetRef: {kind: Service, name: nope}\n  mode: STRICT\n")},
			want: []string{`MTLSPolicy shop/x: spec.targetRef.name: Service shop/nope does not exist`}},
		{name: "service lacks the port", existing: []string{api}, batch: []string{
			mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n  ports: [{port: 9999, mode: DISABLE}]\n")},
			want: []string{`MTLSPolicy shop/api: spec.ports[0].port: Service shop/api has no port 9999`}},
		{name: "two policies for the same Service", existing: []string{api, mtlsPolicy("shop", "first", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n")},
			batch: []string{mtlsPolicy("shop", "second", "  targetRef: {kind: Service, name: api}\n  mode: PERMISSIVE\n")},
			want:  []string{`MTLSPolicy shop/second: spec.targetRef: MTLSPolicy shop/first already sets the mode of Service shop/api: there can be one policy per target at each level (change that policy, or delete it first)`}},
		{name: "two mesh-wide policies in different namespaces", existing: []string{mtlsPolicy("a", "mesh", "  targetRef: {kind: Mesh, name: default}\n  mode: STRICT\n")},
			batch: []string{mtlsPolicy("b", "mesh", "  targetRef: {kind: Mesh, name: default}\n  mode: PERMISSIVE\n")},
			want:  []string{`MTLSPolicy b/mesh: spec.targetRef: MTLSPolicy a/mesh already sets the mode of the Mesh: there can be one policy per target at each level (change that policy, or delete it first)`}},
		{name: "two namespace policies in one apply", batch: []string{
			mtlsPolicy("shop", "a", "  targetRef: {kind: Namespace, name: shop}\n  mode: STRICT\n"),
			mtlsPolicy("shop", "b", "  targetRef: {kind: Namespace, name: shop}\n  mode: DISABLE\n")},
			want: []string{
				`MTLSPolicy shop/a: spec.targetRef: MTLSPolicy shop/b already sets the mode of namespace shop: there can be one policy per target at each level (change that policy, or delete it first)`,
				`MTLSPolicy shop/b: spec.targetRef: MTLSPolicy shop/a already sets the mode of namespace shop: there can be one policy per target at each level (change that policy, or delete it first)`,
			}},
		{name: "replacing a policy is not a conflict", existing: []string{api, mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n")},
			batch: []string{mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: PERMISSIVE\n")}},
		{name: "namespace and service levels do not conflict", existing: []string{api, mtlsPolicy("shop", "ns", "  targetRef: {kind: Namespace, name: shop}\n  mode: STRICT\n")},
			batch: []string{mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: PERMISSIVE\n")}},
		{name: "a changed Service must keep the overridden ports",
			existing: []string{api, mtlsPolicy("shop", "api", "  targetRef: {kind: Service, name: api}\n  mode: STRICT\n  ports: [{port: 2525, mode: PERMISSIVE}]\n")},
			batch:    []string{strings.Replace(api, ", {name: smtp, port: 2525, appProtocol: tcp, serverFirst: true}", "", 1)},
			want:     []string{`Service shop/api: spec.ports: would break MTLSPolicy shop/api: Service shop/api has no port 2525`}},
		{name: "serverFirst needs tcp", batch: []string{strings.Replace(api, "appProtocol: tcp, serverFirst", "appProtocol: http, serverFirst", 1)},
			want: []string{`Service shop/api: spec.ports[1].serverFirst: is only valid with appProtocol tcp (an HTTP client always speaks first)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var existing, batch []*Resource
			for _, doc := range tt.existing {
				existing = append(existing, mustDecode(t, doc))
			}
			for _, doc := range tt.batch {
				batch = append(batch, mustDecode(t, doc))
			}
			var got []string
			for _, e := range Validate(batch, existing) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateDeleteServiceTargetedByMTLSPolicy(t *testing.T) {
	stored := []*Resource{
		mustDecode(t, backendSvc),
		mustDecode(t, mtlsPolicy("default", "backend", "  targetRef: {kind: Service, name: backend}\n  mode: PERMISSIVE\n")),
	}
	var got []string
	for _, e := range ValidateDelete(Key{KindService, "default", "backend"}, stored) {
		got = append(got, e.Error())
	}
	want := []string{`Service default/backend: is the target of MTLSPolicy default/backend; delete or change the policy first`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateDelete (-want +got):\n%s", diff)
	}
	if errs := ValidateDelete(Key{KindMTLSPolicy, "default", "backend"}, stored); len(errs) != 0 {
		t.Errorf("deleting the policy: %v, want no error", errs)
	}
}

func TestMeshMinTLSVersion(t *testing.T) {
	tests := []struct {
		doc     string
		want    string
		wantErr string
	}{
		{doc: "spec: {}", want: "1.3"},
		{doc: "spec: {tls: {minVersion: \"1.2\"}}", want: "1.2"},
		{doc: "spec: {tls: {minVersion: \"1.3\"}}", want: "1.3"},
		{doc: "spec: {tls: {minVersion: \"1.1\"}}", wantErr: `Mesh default: spec.tls.minVersion: "1.1" is not supported; use "1.2" or "1.3"`},
	}
	for _, tt := range tests {
		r := mustDecode(t, "apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\n"+tt.doc+"\n")
		errs := Validate([]*Resource{r}, nil)
		if tt.wantErr != "" {
			if len(errs) != 1 || errs[0].Error() != tt.wantErr {
				t.Errorf("%s: errors %v, want %q", tt.doc, errs, tt.wantErr)
			}
			continue
		}
		if len(errs) != 0 {
			t.Errorf("%s: unexpected errors %v", tt.doc, errs)
		}
		if got := MinTLSVersion(MeshFrom(r)); got != tt.want {
			t.Errorf("%s: MinTLSVersion = %q, want %q", tt.doc, got, tt.want)
		}
	}
	if got := MinTLSVersion(nil); got != DefaultMinTLSVersion {
		t.Errorf("MinTLSVersion(nil) = %q", got)
	}
}

func TestDecodeMTLSPolicy(t *testing.T) {
	r := mustDecode(t, "apiVersion: mesh.weft.dev/v1alpha1\nkind: MTLSPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Namespace, name: default}\n  mode: PERMISSIVE\n")
	if got := r.Key(); got != (Key{Kind: KindMTLSPolicy, Namespace: "default", Name: "p"}) {
		t.Errorf("key = %v", got)
	}
	if info, ok := LookupKind("mtlspolicies"); !ok || info.Kind != KindMTLSPolicy || !info.Namespaced {
		t.Errorf("LookupKind(mtlspolicies) = %+v, %v", info, ok)
	}
	snap := BuildSnapshot([]*Resource{r}, nil, nil)
	if got := snap.MTLSMode("default", "any", 80); got.Mode != v1alpha1.MTLSModePermissive || got.Policy != "default/p" {
		t.Errorf("snapshot mode = %+v, want PERMISSIVE from default/p", got)
	}
	if _, err := Decode(mustJSON(t, "apiVersion: mesh.weft.dev/v1alpha1\nkind: MTLSPolicy\nmetadata: {name: p}\nspec: {mode: STRICT, extra: 1}\n")); err == nil ||
		!strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Errorf("unknown field: err = %v", err)
	}
}
