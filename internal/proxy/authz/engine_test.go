package authz

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// headers is a Request of fixed headers.
type headers map[string]string

func (h headers) Header(name string) ([]byte, bool) {
	v, ok := h[name]
	return []byte(v), ok
}

// fixedHeaders is a Request whose lookups do not allocate.
type fixedHeaders map[string][]byte

func (h fixedHeaders) Header(name string) ([]byte, bool) {
	v, ok := h[name]
	return v, ok
}

const (
	clientID = "spiffe://weft.local/ns/shop/sa/client"
	otherID  = "spiffe://weft.local/ns/shop/sa/other"
)

func anyPerm() *config.Permission { return &config.Permission{Any: true} }

func everyone() *config.Principal { return &config.Principal{Any: true} }

func sa(id string) *config.Principal {
	return &config.Principal{Authenticated: true, PrincipalName: &config.StringMatch{Exact: id}}
}

func pathPrefix(p string) *config.Permission {
	return &config.Permission{Path: &config.StringMatch{Prefix: p}}
}

func method(m string) *config.Permission {
	return &config.Permission{Header: &config.HeaderMatch{Name: ":method", Exact: m}}
}

func rules(action config.RBACAction, policies ...*config.RBACPolicy) *config.RBACRules {
	return &config.RBACRules{Action: action, Policies: policies}
}

// paymentsAuthz is the authorization the control plane sends for: DENY /admin/ to everyone,
// ALLOW client GET and ops anything, a dry-run DENY of DELETE, and an AUDIT of other.
func paymentsAuthz() *config.Authz {
	return &config.Authz{Filters: []*config.RBACFilter{
		{Rules: rules(config.RBACDeny, &config.RBACPolicy{
			Name: "ops/deny-admin/rule/0", Permissions: []*config.Permission{pathPrefix("/admin/")}, Principals: []*config.Principal{everyone()},
		})},
		{Rules: rules(config.RBACAllow,
			&config.RBACPolicy{
				Name:        "shop/payments-allow/rule/0",
				Permissions: []*config.Permission{{And: []*config.Permission{method("GET"), {Or: []*config.Permission{pathPrefix("/api/"), {Path: &config.StringMatch{Exact: "/health"}}}}}}},
				Principals:  []*config.Principal{sa(clientID)},
			},
			&config.RBACPolicy{
				Name:        "shop/payments-allow/rule/1",
				Permissions: []*config.Permission{anyPerm()},
				Principals:  []*config.Principal{{Authenticated: true, PrincipalName: &config.StringMatch{Prefix: "spiffe://weft.local/ns/ops/"}}},
			},
		)},
		{Shadow: rules(config.RBACDeny, &config.RBACPolicy{
			Name: "shop/no-delete/rule/0", Permissions: []*config.Permission{method("DELETE")}, Principals: []*config.Principal{everyone()},
		})},
		{Rules: rules(config.RBACLog, &config.RBACPolicy{
			Name: "shop/audit-other/rule/0", Permissions: []*config.Permission{anyPerm()}, Principals: []*config.Principal{sa(otherID)},
		})},
	}}
}

func newTestEngine(t *testing.T, cfg *config.Authz) (*Engine, *stats.Registry, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	reg := stats.NewRegistry()
	rep := NewReporter(slog.New(slog.NewTextHandler(&logs, nil)), reg)
	e, err := Compile(cfg, rep)
	if err != nil {
		t.Fatal(err)
	}
	return e, reg, &logs
}

func httpInput(peer, m, path string) *Input {
	return &Input{Authenticated: peer != "", Peer: peer, Port: 8080, Request: headers{":method": m}, Method: []byte(m), Path: []byte(path)}
}

func TestEngineCheck(t *testing.T) {
	tests := []struct {
		name    string
		in      *Input
		allowed bool
		log     string // a line that must be logged, "" for none
	}{
		{"client GET /api", httpInput(clientID, "GET", "/api/items"), true, ""},
		{"client GET /health", httpInput(clientID, "GET", "/health"), true, ""},
		{"client POST /api: no ALLOW rule", httpInput(clientID, "POST", "/api/items"), false,
			`msg="request denied by authorization policy" policy=shop/payments-allow rule="none matched" caller=spiffe://weft.local/ns/shop/sa/client method=POST path=/api/items`},
		{"client GET /admin: DENY wins", httpInput(clientID, "GET", "/admin/x"), false,
			`msg="request denied by authorization policy" policy=ops/deny-admin rule=0 caller=spiffe://weft.local/ns/shop/sa/client method=GET path=/admin/x`},
		{"ops anything", httpInput("spiffe://weft.local/ns/ops/sa/cron", "PUT", "/x"), true, ""},
		{"other is audited, then denied", httpInput(otherID, "GET", "/api/items"), false,
			`msg="request denied by authorization policy" policy=shop/payments-allow rule="none matched" caller=spiffe://weft.local/ns/shop/sa/other`},
		{"plaintext has no identity", &Input{Request: headers{":method": "GET"}, Method: []byte("GET"), Path: []byte("/api/x")}, false,
			`caller="none (plaintext)"`},
		{"dry-run DELETE would deny, ops allowed", httpInput("spiffe://weft.local/ns/ops/sa/cron", "DELETE", "/x"), true,
			`msg="dry run: authorization policy would deny request" policy=shop/no-delete rule=0`},
		{"a connection: paths never match", &Input{Authenticated: true, Peer: clientID, Port: 8080}, false,
			`msg="connection denied by authorization policy" policy=shop/payments-allow rule="none matched" caller=spiffe://weft.local/ns/shop/sa/client port=8080`},
		{"a connection from ops", &Input{Authenticated: true, Peer: "spiffe://weft.local/ns/ops/sa/x", Port: 8080}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, logs := newTestEngine(t, paymentsAuthz())
			if got := e.Check(tt.in); got != tt.allowed {
				t.Errorf("Check = %v, want %v", got, tt.allowed)
			}
			if tt.log == "" && tt.allowed && logs.Len() > 0 {
				t.Errorf("unexpected log: %s", logs)
			}
			if tt.log != "" && !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log does not contain %q:\n%s", tt.log, logs)
			}
		})
	}
}

func TestEngineMetrics(t *testing.T) {
	e, reg, logs := newTestEngine(t, paymentsAuthz())
	e.Check(httpInput(clientID, "GET", "/admin/x"))                       // denied by deny-admin
	e.Check(httpInput(clientID, "POST", "/api/x"))                        // denied: no ALLOW rule
	e.Check(httpInput(otherID, "GET", "/api/x"))                          // denied, after... no: the ALLOW filter ends it
	e.Check(httpInput(clientID, "DELETE", "/api/x"))                      // denied by ALLOW before the dry run
	e.Check(httpInput("spiffe://weft.local/ns/ops/sa/a", "DELETE", "/x")) // would deny
	e.Check(httpInput("spiffe://weft.local/ns/ops/sa/a", "GET", "/x"))    // would allow

	want := map[string]float64{
		`weft_authz_denied_total{policy="ops/deny-admin"}`:                     1,
		`weft_authz_denied_total{policy="shop/payments-allow"}`:                3,
		`weft_authz_audit_total{policy="shop/audit-other",result="audited"}`:   0,
		`weft_authz_audit_total{policy="shop/no-delete",result="would_allow"}`: 1,
		`weft_authz_audit_total{policy="shop/no-delete",result="would_deny"}`:  1,
	}
	if diff := cmp.Diff(want, counters(t, reg)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s\nlogs:\n%s", diff, logs)
	}
}

// counters returns every series of reg as name{labels} -> value.
func counters(t *testing.T, reg *stats.Registry) map[string]float64 {
	t.Helper()
	snap, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestEngineAuditAndShadowAllow(t *testing.T) {
	cfg := &config.Authz{Filters: []*config.RBACFilter{
		{Rules: rules(config.RBACLog, &config.RBACPolicy{
			Name: "shop/audit-other/rule/0", Permissions: []*config.Permission{anyPerm()}, Principals: []*config.Principal{sa(otherID)},
		})},
		// A dry-run ALLOW of client only, about port 9090 (a port condition).
		{Shadow: rules(config.RBACAllow, &config.RBACPolicy{
			Name: "shop/only-client/rule/0", Permissions: []*config.Permission{{DestinationPort: 9090}}, Principals: []*config.Principal{sa(clientID)},
		})},
	}}
	e, reg, logs := newTestEngine(t, cfg)
	if !e.Check(httpInput(otherID, "GET", "/")) {
		t.Fatal("an AUDIT policy denied")
	}
	in := httpInput(clientID, "GET", "/")
	in.Port = 9090
	e.Check(in)
	for _, want := range []string{
		`msg="audit: authorization policy matched request" policy=shop/audit-other rule=0 caller=spiffe://weft.local/ns/shop/sa/other`,
		`msg="dry run: authorization policy would deny request" policy=shop/only-client rule="none matched" caller=spiffe://weft.local/ns/shop/sa/other`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, logs)
		}
	}
	got := counters(t, reg)
	if v := got[`weft_authz_audit_total{policy="shop/only-client",result="would_allow"}`]; v != 1 {
		t.Errorf("would_allow = %v, want 1 (all: %v)", v, got)
	}
	if v := got[`weft_authz_audit_total{policy="shop/audit-other",result="audited"}`]; v != 1 {
		t.Errorf("audited = %v, want 1 (all: %v)", v, got)
	}
}

func TestEngineMatchers(t *testing.T) {
	in := &Input{Authenticated: true, Peer: clientID, Port: 8080,
		Request: headers{":method": "GET", "x-role": "admin"}, Method: []byte("GET"), Path: []byte("/a/b")}
	tests := []struct {
		name string
		perm *config.Permission
		prin *config.Principal
		want bool
	}{
		{"header exact", &config.Permission{Header: &config.HeaderMatch{Name: "x-role", Exact: "admin"}}, everyone(), true},
		{"header other value", &config.Permission{Header: &config.HeaderMatch{Name: "x-role", Exact: "user"}}, everyone(), false},
		{"header absent, inverted", &config.Permission{Header: &config.HeaderMatch{Name: "x-no", Present: true, Invert: true}}, everyone(), true},
		{"path regex", &config.Permission{Path: &config.StringMatch{Regex: regexp.MustCompile(`^(?:/a/[a-z])$`)}}, everyone(), true},
		{"not", &config.Permission{Not: pathPrefix("/a/")}, everyone(), false},
		{"port", &config.Permission{DestinationPort: 8081}, everyone(), false},
		{"principal regex", anyPerm(), &config.Principal{Authenticated: true, PrincipalName: &config.StringMatch{Regex: regexp.MustCompile(`^(?:spiffe://weft\.local/ns/[^/]+/sa/client)$`)}}, true},
		{"any authenticated", anyPerm(), &config.Principal{Authenticated: true}, true},
		{"not client", anyPerm(), &config.Principal{Not: sa(clientID)}, false},
		{"and of principals", anyPerm(), &config.Principal{And: []*config.Principal{sa(clientID), {Authenticated: true}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := newTestEngine(t, &config.Authz{Filters: []*config.RBACFilter{{Rules: rules(config.RBACDeny,
				&config.RBACPolicy{Name: "p", Permissions: []*config.Permission{tt.perm}, Principals: []*config.Principal{tt.prin}})}}})
			if matched := !e.Check(in); matched != tt.want {
				t.Errorf("matched = %v, want %v", matched, tt.want)
			}
		})
	}
}

func TestEngineAllowedChecksDoNotAllocate(t *testing.T) {
	e, _, _ := newTestEngine(t, paymentsAuthz())
	in := httpInput(clientID, "GET", "/api/items")
	in.Request = fixedHeaders{":method": []byte("GET")}
	allocs := testing.AllocsPerRun(200, func() {
		if !e.Check(in) {
			t.Fatal("denied")
		}
	})
	if allocs != 0 {
		t.Errorf("an allowed check allocates %.1f times, want 0", allocs)
	}
}

func TestCompileRefuses(t *testing.T) {
	rep := NewReporter(nil, nil)
	if e, err := Compile(nil, rep); e != nil || err != nil {
		t.Errorf("Compile(nil) = %v, %v; want nil, nil", e, err)
	}
	bad := []*config.Authz{
		{Filters: []*config.RBACFilter{{}}},
		{Filters: []*config.RBACFilter{{Shadow: rules(config.RBACLog)}}},
		{Filters: []*config.RBACFilter{{Rules: rules(config.RBACDeny, &config.RBACPolicy{Name: "p"})}}},
	}
	for i, cfg := range bad {
		if _, err := Compile(cfg, rep); err == nil {
			t.Errorf("bad config %d compiled", i)
		}
	}
}
