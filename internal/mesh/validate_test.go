package mesh

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fixtures, in YAML. Names say what they are.
const (
	backendSvc = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: backend}
spec:
  ports: [{port: 8080}]
`
	backendV2Svc = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: backend-v2}
spec:
  ports: [{name: http, port: 8080}, {name: grpc, port: 9090, appProtocol: grpc}]
`
	edgeGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: weft
  listeners: [{name: web, port: 8000, protocol: HTTP}]
`
	meshRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: "", kind: Service, name: backend, port: 8080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "true"}]}]
    backendRefs: [{name: backend-v2, port: 8080, weight: 10}, {name: backend, port: 8080, weight: 90}]
`
)

// route returns an HTTPRoute named r in namespace default with the given spec (YAML, indented
// by two spaces).
func route(spec string) string {
	return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n" + spec
}

func service(spec string) string {
	return "apiVersion: mesh.weft.dev/v1alpha1\nkind: Service\nmetadata: {name: backend}\nspec:\n" + spec
}

func gateway(spec string) string {
	return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge}\nspec:\n" + spec
}

// simpleRule is a valid rule to add to route specs.
const simpleRule = "  rules: [{backendRefs: [{name: backend, port: 8080}]}]\n"

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		batch    []string
		want     []string // FieldError.Error() of each error, in order
	}{
		// Services.
		{name: "valid service", batch: []string{backendSvc, backendV2Svc}},
		{name: "service name not a DNS label", batch: []string{strings.Replace(backendSvc, "name: backend", "name: Backend_1", 1)},
			want: []string{`Service default/Backend_1: metadata.name: "Backend_1" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`}},
		{name: "service name too long", batch: []string{strings.Replace(backendSvc, "name: backend", "name: "+strings.Repeat("a", 64), 1)},
			want: []string{`Service default/` + strings.Repeat("a", 64) + `: metadata.name: "` + strings.Repeat("a", 64) + `" is longer than 63 characters`}},
		{name: "bad namespace", batch: []string{strings.Replace(backendSvc, "{name: backend}", "{name: backend, namespace: -shop}", 1)},
			want: []string{`Service -shop/backend: metadata.namespace: "-shop" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`}},
		{name: "no ports", batch: []string{service("  ports: []\n")},
			want: []string{`Service default/backend: spec.ports: at least one port is required`}},
		{name: "port out of range", batch: []string{service("  ports: [{port: 0}, {name: b, port: 70000}]\n")},
			want: []string{
				`Service default/backend: spec.ports[0].port: 0 is out of range 1-65535`,
				`Service default/backend: spec.ports[0].name: is required when the service has more than one port`,
				`Service default/backend: spec.ports[1].port: 70000 is out of range 1-65535`,
			}},
		{name: "duplicate port and name", batch: []string{service("  ports: [{name: a, port: 80}, {name: a, port: 80}]\n")},
			want: []string{
				`Service default/backend: spec.ports[1].port: 80 is already used by spec.ports[0]`,
				`Service default/backend: spec.ports[1].name: "a" is already used by spec.ports[0]`,
			}},
		{name: "bad app protocol", batch: []string{service("  ports: [{port: 80, appProtocol: udp}]\n")},
			want: []string{`Service default/backend: spec.ports[0].appProtocol: "udp" is not supported; use http, http2, grpc or tcp`}},

		// Mesh.
		{name: "valid mesh", batch: []string{"apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: {trustDomain: prod.example.org, defaults: {connectTimeout: 2s}}\n"}},
		{name: "mesh not named default", batch: []string{"apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: prod}\nspec: {}\n"},
			want: []string{`Mesh prod: metadata.name: "prod" is not allowed: the Mesh is named "default" (there is one per mesh)`}},
		{name: "bad trust domain", batch: []string{"apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: {trustDomain: Example.ORG}\n"},
			want: []string{`Mesh default: spec.trustDomain: trust domain "Example.ORG": character 'E' is not allowed (lower-case letters, digits, '.', '-', '_')`}},
		{name: "bad connect timeout", batch: []string{"apiVersion: mesh.weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\nspec: {defaults: {connectTimeout: fast}}\n"},
			want: []string{`Mesh default: spec.defaults.connectTimeout: "fast" is not a positive duration (e.g. "2s")`}},

		// HTTPRoutes: references.
		{name: "route to stored services", existing: []string{backendSvc, backendV2Svc}, batch: []string{meshRoute}},
		{name: "route and services in one batch", batch: []string{meshRoute, backendSvc, backendV2Svc}},
		{name: "route to a gateway", existing: []string{backendSvc, edgeGateway},
			batch: []string{route("  parentRefs: [{name: edge, sectionName: web}]\n" + simpleRule)}},
		{name: "route to a missing service", existing: []string{backendSvc}, batch: []string{meshRoute},
			want: []string{`HTTPRoute default/r: spec.rules[0].backendRefs[0].name: Service default/backend-v2 does not exist`}},
		{name: "route with a missing parent service", existing: []string{backendV2Svc}, batch: []string{meshRoute},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs[0].name: Service default/backend does not exist`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[1].name: Service default/backend does not exist`,
			}},
		{name: "route to a missing gateway", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{name: edge}]\n" + simpleRule)},
			want:  []string{`HTTPRoute default/r: spec.parentRefs[0].name: Gateway default/edge does not exist`}},
		{name: "route to a port the service lacks", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend, port: 80}]\n  rules: [{backendRefs: [{name: backend, port: 9090}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs[0].port: Service default/backend has no port 80`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[0].port: Service default/backend has no port 9090`,
			}},
		{name: "route to a tcp port", existing: []string{service("  ports: [{name: pg, port: 5432, appProtocol: tcp}, {name: web, port: 80}]\n")},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend, sectionName: pg}, {kind: Service, name: backend, port: 5432}, {kind: Service, name: backend}]\n  rules: [{backendRefs: [{name: backend, port: 5432}, {name: backend, port: 80}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs[0].sectionName: Service default/backend port "pg" is tcp: an HTTPRoute needs an http, http2 or grpc port`,
				`HTTPRoute default/r: spec.parentRefs[1].port: Service default/backend port 5432 is tcp: an HTTPRoute needs an http, http2 or grpc port`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[0].port: Service default/backend port 5432 is tcp: an HTTPRoute needs an http, http2 or grpc port`,
			}},
		{name: "parent section name", existing: []string{backendV2Svc, edgeGateway},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend-v2, sectionName: grpc}, {kind: Service, name: backend-v2, sectionName: admin}, {name: edge, sectionName: tls}, {name: edge, port: 9000}]\n  rules: [{backendRefs: [{name: backend-v2, port: 9090}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs[1].sectionName: Service default/backend-v2 has no port named "admin"`,
				`HTTPRoute default/r: spec.parentRefs[2].sectionName: Gateway default/edge has no listener named "tls"`,
				`HTTPRoute default/r: spec.parentRefs[3].port: Gateway default/edge has no listener on port 9000`,
			}},
		{name: "gateway in another namespace", existing: []string{backendSvc, strings.Replace(edgeGateway, "{name: edge}", "{name: edge, namespace: infra}", 1)},
			batch: []string{route("  parentRefs: [{name: edge, namespace: infra}]\n" + simpleRule)},
			want:  []string{`HTTPRoute default/r: spec.parentRefs[0].namespace: Gateway infra/edge accepts routes from its own namespace only`}},
		{name: "consumer route to a service in another namespace", existing: []string{backendSvc, strings.Replace(backendSvc, "{name: backend}", "{name: backend, namespace: shop}", 1)},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend, namespace: shop}]\n" + simpleRule)}},

		// HTTPRoutes: fields.
		{name: "weight out of range", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules: [{backendRefs: [{name: backend, port: 8080}, {name: backend, port: 8080, weight: 2000000}, {name: backend, port: 8080, weight: -1}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].backendRefs[1].weight: 2000000 is out of range 0-1000000`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[2].weight: -1 is out of range 0-1000000`,
			}},
		{name: "no parents and no rules", batch: []string{route("  parentRefs: []\n")},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs: at least one parent (a Service or a Gateway) is required`,
				`HTTPRoute default/r: spec.rules: at least one rule is required`,
			}},
		{name: "rule without backends", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules: [{matches: [{path: {value: /}}]}]\n")},
			want:  []string{`HTTPRoute default/r: spec.rules[0].backendRefs: at least one backend is required`}},
		{name: "unsupported parent kind", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{group: apps, kind: Deployment, name: x}, {kind: Service, group: gateway.networking.k8s.io, name: backend}]\n" + simpleRule)},
			want: []string{
				`HTTPRoute default/r: spec.parentRefs[0]: group "apps" kind "Deployment" is not supported: a parent is a Service (group "") or a Gateway (group gateway.networking.k8s.io)`,
				`HTTPRoute default/r: spec.parentRefs[1]: group "gateway.networking.k8s.io" kind "Service" is not supported: a parent is a Service (group "") or a Gateway (group gateway.networking.k8s.io)`,
			}},
		{name: "core group spelled core", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{group: core, kind: Service, name: backend}]\n  rules: [{backendRefs: [{group: core, kind: Service, name: backend, port: 8080}]}]\n")}},
		{name: "duplicate parents", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}, {kind: Service, name: backend}]\n" + simpleRule)},
			want:  []string{`HTTPRoute default/r: spec.parentRefs[1]: is the same parent as spec.parentRefs[0]`}},
		{name: "unsupported backend", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules: [{backendRefs: [{group: example.com, kind: Bucket, name: b, port: 1}, {name: backend}, {name: backend, namespace: other, port: 8080}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].backendRefs[0]: group "example.com" kind "Bucket" is not supported: a backend is a Service (group "")`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[1].port: is required`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[2].namespace: "other": a backend in another namespace needs a ReferenceGrant, which is not supported yet`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[2].name: Service other/backend does not exist`,
			}},
		{name: "filters are not supported", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules:\n  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: 'y'}]}}]\n    backendRefs: [{name: backend, port: 8080, filters: [{type: URLRewrite, urlRewrite: {hostname: a.example}}]}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].filters: is not supported yet; remove it`,
				`HTTPRoute default/r: spec.rules[0].backendRefs[0].filters: is not supported yet; remove it`,
			}},
		{name: "retry, session persistence and backend timeouts are not supported", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules:\n  - retry: {attempts: 2}\n    sessionPersistence: {sessionName: s}\n    timeouts: {request: 10s, backendRequest: 2s}\n    backendRefs: [{name: backend, port: 8080}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].retry: is not supported yet; remove it`,
				`HTTPRoute default/r: spec.rules[0].sessionPersistence: is not supported yet; remove it`,
				`HTTPRoute default/r: spec.rules[0].timeouts.backendRequest: is not supported yet; remove it`,
			}},
		{name: "bad request timeout", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules: [{timeouts: {request: soon}, backendRefs: [{name: backend, port: 8080}]}]\n")},
			want:  []string{`HTTPRoute default/r: spec.rules[0].timeouts.request: "soon" is not a duration (e.g. "10s", "500ms")`}},
		{name: "path matches", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules:\n  - matches: [{path: {type: Exact, value: /a}}, {path: {type: RegularExpression, value: '^/v[0-9]+/'}}, {path: {type: Prefix, value: /}}, {path: {value: api}}, {path: {type: RegularExpression, value: '(['}}]\n    backendRefs: [{name: backend, port: 8080}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].matches[2].path.type: "Prefix" is not supported; use PathPrefix, Exact or RegularExpression`,
				`HTTPRoute default/r: spec.rules[0].matches[3].path.value: "api" must start with '/'`,
				"HTTPRoute default/r: spec.rules[0].matches[4].path.value: \"([\" is not a valid regular expression: error parsing regexp: missing closing ]: `[`",
			}},
		{name: "header matches", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules:\n  - matches: [{headers: [{name: x-a, value: '1'}, {name: X-A, value: '2'}, {name: 'bad name', value: '3'}, {name: x-b, type: Prefix, value: '4'}, {name: x-c, type: RegularExpression, value: '*'}]}]\n    backendRefs: [{name: backend, port: 8080}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].matches[0].headers[1].name: "X-A" is already matched by headers[0]`,
				`HTTPRoute default/r: spec.rules[0].matches[0].headers[2].name: "bad name" is not a valid HTTP header name`,
				`HTTPRoute default/r: spec.rules[0].matches[0].headers[3].type: "Prefix" is not supported; use Exact or RegularExpression`,
				"HTTPRoute default/r: spec.rules[0].matches[0].headers[4].value: \"*\" is not a valid regular expression: error parsing regexp: missing argument to repetition operator: `*`",
			}},
		{name: "query and method matches are not supported", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  rules:\n  - matches: [{queryParams: [{name: a, value: b}], method: GET}]\n    backendRefs: [{name: backend, port: 8080}]\n")},
			want: []string{
				`HTTPRoute default/r: spec.rules[0].matches[0].queryParams: is not supported yet; remove it`,
				`HTTPRoute default/r: spec.rules[0].matches[0].method: is not supported yet; remove it`,
			}},
		{name: "bad hostname", existing: []string{backendSvc},
			batch: []string{route("  parentRefs: [{kind: Service, name: backend}]\n  hostnames: [shop.example.com, '*.example.com', 'bad host']\n" + simpleRule)},
			want:  []string{`HTTPRoute default/r: spec.hostnames[2]: "bad host" is not a valid hostname (lower-case DNS labels separated by dots)`}},

		// Gateways.
		{name: "valid gateway", batch: []string{edgeGateway}},
		{name: "gateway class", batch: []string{gateway("  gatewayClassName: istio\n  listeners: [{name: web, port: 80, protocol: HTTP}]\n")},
			want: []string{`Gateway default/edge: spec.gatewayClassName: "istio" is not supported; use "weft"`}},
		{name: "gateway listeners", batch: []string{gateway("  gatewayClassName: weft\n  listeners:\n  - {name: web, port: 80, protocol: HTTP}\n  - {name: web, port: 80, protocol: HTTPS}\n  - {name: other, port: 0, protocol: HTTP, hostname: 'bad_host'}\n")},
			want: []string{
				`Gateway default/edge: spec.listeners[1].name: "web" is already used by spec.listeners[0]`,
				`Gateway default/edge: spec.listeners[1].port: 80 is already used by spec.listeners[0]`,
				`Gateway default/edge: spec.listeners[1].protocol: "HTTPS" is not supported yet; use HTTP`,
				`Gateway default/edge: spec.listeners[2].hostname: "bad_host" is not a valid hostname (lower-case DNS labels separated by dots)`,
				`Gateway default/edge: spec.listeners[2].port: 0 is out of range 1-65535`,
			}},
		{name: "gateway without listeners", batch: []string{gateway("  gatewayClassName: weft\n  listeners: []\n")},
			want: []string{`Gateway default/edge: spec.listeners: at least one listener is required`}},
		{name: "gateway features not supported", batch: []string{gateway("  gatewayClassName: weft\n  addresses: [{value: 10.0.0.1}]\n  listeners:\n  - name: web\n    port: 80\n    protocol: HTTP\n    allowedRoutes: {namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}\n")},
			want: []string{
				`Gateway default/edge: spec.addresses: is not supported yet; remove it`,
				`Gateway default/edge: spec.listeners[0].allowedRoutes.namespaces.from: "All" is not supported yet; only Same (routes of the Gateway's namespace)`,
				`Gateway default/edge: spec.listeners[0].allowedRoutes.kinds[0]: group "gateway.networking.k8s.io" kind "GRPCRoute" is not supported; only HTTPRoute`,
			}},

		// Changes that would break stored routes.
		{name: "service loses a port a stored route uses", existing: []string{backendSvc, backendV2Svc, meshRoute},
			batch: []string{service("  ports: [{port: 9000}]\n")},
			want: []string{
				`Service default/backend: spec.ports: would break HTTPRoute default/r: spec.parentRefs[0].port: Service default/backend has no port 8080`,
				`Service default/backend: spec.ports: would break HTTPRoute default/r: spec.rules[0].backendRefs[1].port: Service default/backend has no port 8080`,
			}},
		{name: "service and route change together", existing: []string{backendSvc, backendV2Svc, meshRoute},
			batch: []string{service("  ports: [{port: 9000}]\n"), route("  parentRefs: [{kind: Service, name: backend, port: 9000}]\n  rules: [{backendRefs: [{name: backend, port: 9000}]}]\n")}},
		{name: "gateway loses a listener a stored route uses", existing: []string{backendSvc, edgeGateway, route("  parentRefs: [{name: edge, sectionName: web}]\n" + simpleRule)},
			batch: []string{gateway("  gatewayClassName: weft\n  listeners: [{name: www, port: 8000, protocol: HTTP}]\n")},
			want:  []string{`Gateway default/edge: spec.listeners: would break HTTPRoute default/r: spec.parentRefs[0].sectionName: Gateway default/edge has no listener named "web"`}},

		// The batch itself.
		{name: "duplicate in batch", batch: []string{backendSvc, backendSvc},
			want: []string{`Service default/backend: appears more than once in this apply (first as its resource #1): apply one version of it`}},
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

func TestValidateErrorsCarryIndexAndField(t *testing.T) {
	batch := []*Resource{mustDecode(t, backendSvc), mustDecode(t, service("  ports: [{port: 0}]\n"))}
	batch[1].Name = "other"
	errs := Validate(batch, nil)
	want := ErrorList{{Index: 1, Kind: KindService, Namespace: "default", Name: "other", Field: "spec.ports[0].port", Message: "0 is out of range 1-65535"}}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if errs.Err() == nil || ErrorList(nil).Err() != nil {
		t.Error("Err() must be nil exactly when the list is empty")
	}
}

func TestValidateDelete(t *testing.T) {
	stored := []*Resource{mustDecode(t, backendSvc), mustDecode(t, backendV2Svc), mustDecode(t, edgeGateway), mustDecode(t, meshRoute),
		mustDecode(t, strings.Replace(route("  parentRefs: [{name: edge}]\n"+simpleRule), "name: r}", "name: web}", 1))}
	tests := []struct {
		key  Key
		want []string
	}{
		{Key{KindService, "default", "backend"}, []string{
			`Service default/backend: is used by HTTPRoute default/r (spec.parentRefs[0]); delete or change the route first`,
			`Service default/backend: is used by HTTPRoute default/r (spec.rules[0].backendRefs[1]); delete or change the route first`,
			`Service default/backend: is used by HTTPRoute default/web (spec.rules[0].backendRefs[0]); delete or change the route first`,
		}},
		{Key{KindGateway, "default", "edge"}, []string{
			`Gateway default/edge: is used by HTTPRoute default/web (spec.parentRefs[0]); delete or change the route first`,
		}},
		{Key{KindHTTPRoute, "default", "r"}, nil},
		{Key{KindService, "other", "backend"}, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range ValidateDelete(tt.key, stored) {
			got = append(got, e.Error())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ValidateDelete(%v) (-want +got):\n%s", tt.key, diff)
		}
	}
}
