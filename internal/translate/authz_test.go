package translate

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// authzPolicy decodes an AuthorizationPolicy from YAML, as weftd would store it.
func authzPolicy(t *testing.T, doc string) *v1alpha1.AuthorizationPolicy {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte("apiVersion: mesh.weft.dev/v1alpha1\nkind: AuthorizationPolicy\n" + doc))
	if err != nil {
		t.Fatal(err)
	}
	r, err := mesh.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if errs := mesh.Validate([]*mesh.Resource{r}, nil); len(errs) > 0 {
		t.Fatalf("invalid test policy: %v", errs)
	}
	return r.Object.(*v1alpha1.AuthorizationPolicy)
}

// authzSnapshot is the payments Service (http, grpc and tcp ports) in namespace shop with the
// given policies.
func authzSnapshot(t *testing.T, policies ...string) *mesh.Snapshot {
	s := newSnapshot()
	addService(s, "shop", "payments", nil, port("http", 8080, "http"), port("grpc", 9090, "grpc"), port("db", 7000, "tcp"))
	for _, p := range policies {
		s.AuthorizationPolicies = append(s.AuthorizationPolicies, authzPolicy(t, p))
	}
	return s
}

var paymentsProxy = sidecarMeta("payments-1.shop", "shop", "payments", 15006, []wire.AppPort{
	{Port: 8080, Target: "127.0.0.1:8081"},
	{Port: 9090, Target: "127.0.0.1:9091"},
	{Port: 7000, Target: "127.0.0.1:7001"},
})

// The policies of the golden case.
const (
	// Mesh-wide: nobody reaches /admin/ (HTTP only: it does not concern the tcp port).
	denyAdmin = `
metadata: {name: deny-admin, namespace: ops}
spec:
  targetRef: {kind: Mesh}
  action: DENY
  rules: [{to: [{paths: ["/admin/*"]}]}]
`
	// The Service: client and batch read the API on 8080 with x-role admin; ops may do
	// anything; nobody else.
	paymentsAllow = `
metadata: {name: payments-allow, namespace: shop}
spec:
  targetRef: {kind: Service, name: payments}
  action: ALLOW
  rules:
  - from: [{serviceAccounts: [client, batch/batch]}, {spiffeIDs: ["spiffe://weft.local/ns/legacy/*"], namespaces: [legacy]}]
    to: [{ports: [8080], methods: [GET, HEAD], paths: ["/api/*", /health], headers: [{name: X-Role, value: admin}]}]
  - from: [{namespaces: [ops, sre]}]
`
	// The namespace: what DELETE would be denied, without denying it.
	dryRunDeleteDeny = `
metadata: {name: no-delete, namespace: shop}
spec:
  targetRef: {kind: Namespace}
  action: DENY
  dryRun: true
  rules: [{to: [{methods: [DELETE]}]}]
`
	// A dry-run ALLOW about another port: on these ports it would deny everything.
	dryRunAllowOtherPort = `
metadata: {name: only-9999, namespace: shop}
spec:
  targetRef: {kind: Service, name: payments}
  action: ALLOW
  dryRun: true
  rules: [{to: [{ports: [9999]}]}]
`
	// Calls from prod are reported.
	auditProd = `
metadata: {name: audit-prod, namespace: shop}
spec:
  targetRef: {kind: Service, name: payments}
  action: AUDIT
  rules: [{from: [{namespaces: [prod]}]}]
`
	// Policies that do not apply to payments.
	otherService = `
metadata: {name: cart-deny, namespace: shop}
spec:
  targetRef: {kind: Service, name: cart}
  action: DENY
  rules: [{}]
`
	otherNamespace = `
metadata: {name: prod-deny, namespace: prod}
spec:
  targetRef: {kind: Namespace}
  action: DENY
  rules: [{}]
`
)

func TestTranslateAuthzGolden(t *testing.T) {
	cases := []struct {
		name     string
		policies []string
	}{
		// Every kind of policy on http, grpc and tcp ports.
		{"authz", []string{denyAdmin, paymentsAllow, dryRunDeleteDeny, dryRunAllowOtherPort, auditProd, otherService, otherNamespace}},
		// An ALLOW policy about the http port only: the other ports deny everything, naming it.
		{"authz-allow-one-port", []string{`
metadata: {name: web-only, namespace: shop}
spec:
  targetRef: {kind: Service, name: payments}
  action: ALLOW
  rules: [{from: [{serviceAccounts: [web]}], to: [{ports: [8080]}]}]
`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Translate(authzSnapshot(t, tc.policies...), paymentsProxy)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			checkGolden(t, tc.name, &Resources{Listeners: res.Listeners})
		})
	}
}

// TestAuthzFilterOrder checks the structure the golden file shows, so that a careless -update
// cannot accept a wrong order: on HTTP chains the DENY filter, the ALLOW filter, the
// report-only filters then the router, with paths normalised; on the tcp chain the network
// RBAC filters before the tcp proxy, without the HTTP-only DENY.
func TestAuthzFilterOrder(t *testing.T) {
	res, err := Translate(authzSnapshot(t, denyAdmin, paymentsAllow, dryRunDeleteDeny, auditProd), paymentsProxy)
	if err != nil {
		t.Fatal(err)
	}
	var inbound *listenerv3.Listener
	for _, l := range res.Listeners {
		if l.GetName() == wire.InboundListenerName {
			inbound = l
		}
	}
	if inbound == nil {
		t.Fatal("no inbound listener")
	}
	for _, fc := range inbound.GetFilterChains() {
		var names []string
		for _, f := range fc.GetFilters() {
			names = append(names, f.GetName())
		}
		if fc.GetName() == wire.InboundClusterName(7000) {
			// The tcp port: ALLOW (ops, sre), then the audit of prod. The DENY is about paths,
			// the dry run about a method: neither concerns a connection.
			want := []string{wellknown.RoleBasedAccessControl, wellknown.RoleBasedAccessControl, wellknown.TCPProxy}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("tcp chain filters (-want +got):\n%s", diff)
			}
			continue
		}
		if diff := cmp.Diff([]string{wellknown.HTTPConnectionManager}, names); diff != "" {
			t.Fatalf("%s filters (-want +got):\n%s", fc.GetName(), diff)
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatal(err)
		}
		var httpFilters []string
		for _, f := range hcm.GetHttpFilters() {
			httpFilters = append(httpFilters, f.GetName())
		}
		rbac := wellknown.HTTPRoleBasedAccessControl
		want := []string{rbac, rbac, rbac, rbac, wellknown.Router}
		if diff := cmp.Diff(want, httpFilters); diff != "" {
			t.Errorf("%s HTTP filters (-want +got):\n%s", fc.GetName(), diff)
		}
		if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() ||
			hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
			t.Errorf("%s: paths are not normalised before the RBAC filters", fc.GetName())
		}
	}
}

func TestServiceAccountIDs(t *testing.T) {
	b := &builder{trustDomain: "td"}
	tests := []struct {
		src  v1alpha1.AuthorizationSource
		want []string
	}{
		{v1alpha1.AuthorizationSource{ServiceAccounts: []string{"a"}}, []string{"spiffe://td/ns/shop/sa/a"}},
		{v1alpha1.AuthorizationSource{ServiceAccounts: []string{"a", "prod/b", "a"}},
			[]string{"spiffe://td/ns/prod/sa/b", "spiffe://td/ns/shop/sa/a"}},
		{v1alpha1.AuthorizationSource{ServiceAccounts: []string{"a", "prod/b", "dev/c"}, Namespaces: []string{"x", "prod"}},
			[]string{"spiffe://td/ns/prod/sa/a", "spiffe://td/ns/prod/sa/b", "spiffe://td/ns/x/sa/a"}},
		{v1alpha1.AuthorizationSource{ServiceAccounts: []string{"dev/c"}, Namespaces: []string{"x"}}, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, b.serviceAccountIDs("shop", tt.src)); diff != "" {
			t.Errorf("serviceAccountIDs(%+v) (-want +got):\n%s", tt.src, diff)
		}
	}
}
