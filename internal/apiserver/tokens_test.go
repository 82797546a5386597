package apiserver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/testclock"
	"github.com/weftmesh/weft/internal/tokens"
	"github.com/weftmesh/weft/internal/wire"
)

// newTokenFixture is a server with a join-token store on a manual clock.
func newTokenFixture(t *testing.T) (*fixture, *testclock.Clock) {
	t.Helper()
	clk := testclock.New(time.Now())
	f := newFixture(t, func(c *Config) {
		ts, err := tokens.Open(tokens.Config{Now: clk.Now}, c.Store.(*store.Bolt).DB(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Tokens = ts
	})
	return f, clk
}

// createToken makes a join token with the admin token.
func (f *fixture) createToken(t *testing.T, ns, sa string) apiclient.CreateJoinTokenResponse {
	t.Helper()
	status, body := f.call(t, http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: ns, ServiceAccount: sa})
	if status != http.StatusCreated {
		t.Fatalf("creating a join token: %d %s", status, body)
	}
	return decode[apiclient.CreateJoinTokenResponse](t, body)
}

func workload(id, ns, sa string) wire.Workload {
	return wire.Workload{ID: id, Service: "web", Namespace: ns, ServiceAccount: sa, Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080}}
}

func TestTokenManagement(t *testing.T) {
	f, clk := newTokenFixture(t)
	created := f.createToken(t, "shop", "web")
	if !strings.HasPrefix(created.Token, tokens.Prefix+created.ID+".") {
		t.Errorf("token %q does not read weft-jt.<id>.<secret>", created.Token)
	}
	if created.SPIFFEID != "spiffe://weft.local/ns/shop/sa/web" || created.Namespace != "shop" || created.ServiceAccount != "web" ||
		!created.Expiry.Equal(created.Created.Add(time.Hour)) || created.RevokedAt != nil {
		t.Errorf("created token: %+v", created.JoinToken)
	}
	secret := created.Token[strings.LastIndex(created.Token, ".")+1:]

	clk.Advance(time.Second)
	status, body := f.call(t, http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "ops", ServiceAccount: "backup", TTLSeconds: 600})
	second := decode[apiclient.CreateJoinTokenResponse](t, body)
	if status != http.StatusCreated || !second.Expiry.Equal(second.Created.Add(10*time.Minute)) {
		t.Errorf("token with a TTL: %d %s", status, body)
	}

	status, body = f.call(t, http.MethodGet, "/v1/tokens", nil)
	list := decode[apiclient.JoinTokenList](t, body)
	if status != http.StatusOK || len(list.Items) != 2 || list.Items[0].ID != created.ID || list.Items[1].ID != second.ID {
		t.Errorf("list: %d %s", status, body)
	}
	if strings.Contains(string(body), secret) || strings.Contains(string(body), `"token"`) {
		t.Errorf("the list shows a secret: %s", body)
	}

	status, body = f.call(t, http.MethodDelete, "/v1/tokens/"+created.ID, nil)
	if revoked := decode[apiclient.JoinToken](t, body); status != http.StatusOK || revoked.RevokedAt == nil || revoked.ID != created.ID {
		t.Errorf("revoke: %d %s", status, body)
	}
	status, body = f.call(t, http.MethodGet, "/v1/tokens", nil)
	if list := decode[apiclient.JoinTokenList](t, body); status != 200 || list.Items[0].RevokedAt == nil || list.Items[1].RevokedAt != nil {
		t.Errorf("list after revoking the first: %s", body)
	}

	refusals := []struct {
		name, method, path string
		body               any
		status             int
		message            string
	}{
		{"TTL too short", http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "shop", ServiceAccount: "web", TTLSeconds: 30}, 400,
			"invalid join token request: ttl 30s is out of range 1m0s to 720h0m0s (30 days)"},
		{"TTL too long", http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "shop", ServiceAccount: "web", TTLSeconds: 1 << 40}, 400,
			"invalid join token request: ttl 1099511627776s is out of range 1m0s to 720h0m0s (30 days)"},
		{"no service account", http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "shop"}, 400,
			"invalid join token request: a service account is required"},
		{"bad namespace", http.MethodPost, "/v1/tokens", apiclient.CreateJoinTokenRequest{Namespace: "Shop", ServiceAccount: "web"}, 400,
			`invalid join token request: namespace "Shop" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)`},
		{"unknown field", http.MethodPost, "/v1/tokens", `{"namespace":"shop","serviceAccount":"web","ttl":"1h"}`, 400,
			`invalid request body: json: unknown field "ttl"`},
		{"revoke an unknown token", http.MethodDelete, "/v1/tokens/0123456789abcdef", nil, 404, "join token not found: 0123456789abcdef"},
	}
	for _, tt := range refusals {
		status, body := f.call(t, tt.method, tt.path, tt.body)
		if status != tt.status || decode[apiclient.Error](t, body).Message != tt.message {
			t.Errorf("%s: %d %s; want %d %q", tt.name, status, body, tt.status, tt.message)
		}
	}
}

func TestJoinTokenPermissions(t *testing.T) {
	f, _ := newTokenFixture(t)
	web := f.createToken(t, "shop", "web")
	auth := "Bearer " + web.Token
	// Workloads of another identity, registered with the admin token.
	for _, w := range []wire.Workload{workload("db-1.shop", "shop", "db"), workload("web-1.ops", "ops", "web")} {
		if status, body := f.call(t, http.MethodPost, "/v1/workloads", w); status != 200 {
			t.Fatalf("admin registering %s: %d %s", w.ID, status, body)
		}
	}

	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		message      string
	}{
		{"register its identity", http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web"), 200, ""},
		{"register another service account", http.MethodPost, "/v1/workloads", workload("web-2.shop", "shop", "admin"), 403,
			`join token ` + web.ID + ` is for namespace "shop", service account "web"; workload web-2.shop has namespace "shop", service account "admin"`},
		{"register another namespace", http.MethodPost, "/v1/workloads", workload("web-2.ops", "ops", "web"), 403,
			`join token ` + web.ID + ` is for namespace "shop", service account "web"; workload web-2.ops has namespace "ops", service account "web"`},
		{"take over a workload ID of another identity", http.MethodPost, "/v1/workloads", workload("db-1.shop", "shop", "web"), 403,
			`workload db-1.shop is registered with the identity spiffe://weft.local/ns/shop/sa/db; join token ` + web.ID + `, for namespace "shop", service account "web", cannot replace it`},
		{"renew its workload", http.MethodPut, "/v1/workloads/web-1.shop/lease", nil, 200, ""},
		{"renew another identity's workload", http.MethodPut, "/v1/workloads/db-1.shop/lease", nil, 403,
			`workload db-1.shop has the identity spiffe://weft.local/ns/shop/sa/db; join token ` + web.ID + ` is for namespace "shop", service account "web"`},
		{"renew a workload of its service account in another namespace", http.MethodPut, "/v1/workloads/web-1.ops/lease", nil, 403,
			`workload web-1.ops has the identity spiffe://weft.local/ns/ops/sa/web; join token ` + web.ID + ` is for namespace "shop", service account "web"`},
		{"renew an unknown workload", http.MethodPut, "/v1/workloads/ghost/lease", nil, 404, "workload ghost is not registered"},
		{"deregister another identity's workload", http.MethodDelete, "/v1/workloads/db-1.shop", nil, 403,
			`workload db-1.shop has the identity spiffe://weft.local/ns/shop/sa/db; join token ` + web.ID + ` is for namespace "shop", service account "web"`},
		{"certificate of its identity", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/web"), WorkloadID: "web-1.shop"}, 200, ""},
		{"certificate of its identity without a workload", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/web")}, 200, ""},
		{"certificate of another service account", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/db")}, 403,
			"not allowed to obtain a certificate for spiffe://weft.local/ns/shop/sa/db: join token " + web.ID + " grants only spiffe://weft.local/ns/shop/sa/web"},
		{"certificate of another namespace", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/ops/sa/web")}, 403,
			"not allowed to obtain a certificate for spiffe://weft.local/ns/ops/sa/web: join token " + web.ID + " grants only spiffe://weft.local/ns/shop/sa/web"},
		{"certificate for another identity's workload", http.MethodPost, "/v1/certificates", apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/db"), WorkloadID: "db-1.shop"}, 403,
			"not allowed to obtain a certificate for spiffe://weft.local/ns/shop/sa/db: join token " + web.ID + " grants only spiffe://weft.local/ns/shop/sa/web"},
		{"deregister its workload", http.MethodDelete, "/v1/workloads/web-1.shop", nil, 200, ""},
		{"deregister it twice", http.MethodDelete, "/v1/workloads/web-1.shop", nil, 404, "workload web-1.shop is not registered"},
	}
	denied := func(call string) string {
		return `join token ` + web.ID + ` may only register, renew and deregister workloads of namespace "shop", service account "web" and obtain their certificate; ` + call + ` needs the admin token`
	}
	for _, call := range []struct{ method, path string }{
		{http.MethodGet, "/v1/workloads"},
		{http.MethodGet, "/v1/version"},
		{http.MethodPost, "/v1/apply"},
		{http.MethodGet, "/v1/resources/services"},
		{http.MethodGet, "/v1/resources/services/shop/backend"},
		{http.MethodDelete, "/v1/resources/services/shop/backend"},
		{http.MethodGet, "/v1/tokens"},
		{http.MethodPost, "/v1/tokens"},
		{http.MethodDelete, "/v1/tokens/" + web.ID},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/v2/things"},
		{http.MethodGet, "/v1/certificates"},
	} {
		tests = append(tests, struct {
			name         string
			method, path string
			body         any
			status       int
			message      string
		}{call.method + " " + call.path, call.method, call.path, `{}`, 403, denied(call.method + " " + call.path)})
	}
	for _, tt := range tests {
		status, body := f.callWith(t, tt.method, tt.path, tt.body, auth)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, status, tt.status, body)
			continue
		}
		if tt.message != "" {
			if got := decode[apiclient.Error](t, body).Message; got != tt.message {
				t.Errorf("%s: error %q, want %q", tt.name, got, tt.message)
			}
		}
	}

	// The refused calls changed nothing.
	status, body := f.call(t, http.MethodGet, "/v1/tokens", nil)
	if list := decode[apiclient.JoinTokenList](t, body); status != 200 || len(list.Items) != 1 || list.Items[0].RevokedAt != nil {
		t.Errorf("tokens after the refused calls: %s", body)
	}
	if _, err := f.reg.Get("db-1.shop"); err != nil {
		t.Errorf("another identity's workload is gone: %v", err)
	}

	// Metrics name the route a join token called.
	_, metrics := f.call(t, http.MethodGet, "/metrics", nil)
	if !strings.Contains(string(metrics), `weftd_api_requests_total{code="200",route="POST /v1/workloads"}`) {
		t.Errorf("the metrics do not count the join token's registration by route:\n%s", metrics)
	}
	if secret := web.Token[strings.LastIndex(web.Token, ".")+1:]; strings.Contains(f.logs.String(), secret) {
		t.Error("the join token's secret appears in the log")
	}
}

func TestJoinTokenRefused(t *testing.T) {
	f, clk := newTokenFixture(t)
	revoked := f.createToken(t, "shop", "web")
	expired := f.createToken(t, "shop", "web")
	live := f.createToken(t, "shop", "web")
	register := func(tok string) (int, string) {
		status, body := f.callWith(t, http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web"), "Bearer "+tok)
		return status, decode[apiclient.Error](t, body).Message
	}
	if status, msg := register(revoked.Token); status != 200 {
		t.Fatalf("before the revocation: %d %s", status, msg)
	}

	// Revocation holds for the very next call.
	if status, body := f.call(t, http.MethodDelete, "/v1/tokens/"+revoked.ID, nil); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	clk.Advance(time.Hour)
	wrongSecret := live.Token[:strings.LastIndex(live.Token, ".")+1] + strings.Repeat("A", 43)
	tests := []struct {
		name    string
		token   string
		message string
	}{
		{"revoked", revoked.Token, "join token " + revoked.ID + " was revoked at "},
		{"expired", expired.Token, "join token " + expired.ID + " expired at " + expired.Expiry.UTC().Format(time.RFC3339)},
		{"wrong secret", wrongSecret, "join token " + live.ID + " is not known to this weftd (or its secret is wrong)"},
		{"unknown", tokens.Prefix + "0123456789abcdef." + strings.Repeat("A", 43), "join token 0123456789abcdef is not known to this weftd (or its secret is wrong)"},
		{"malformed", tokens.Prefix + "short", "malformed join token: want weft-jt.<id>.<secret>, as 'weft token create' prints it"},
	}
	for _, tt := range tests {
		status, msg := register(tt.token)
		if status != http.StatusUnauthorized || !strings.HasPrefix(msg, tt.message) {
			t.Errorf("%s: %d %q, want 401 %q", tt.name, status, msg, tt.message)
		}
		if secret := tt.token[strings.LastIndex(tt.token, ".")+1:]; len(secret) > 10 && strings.Contains(msg, secret) {
			t.Errorf("%s: the answer %q echoes the secret", tt.name, msg)
		}
	}
	// Only the time passed expired the second token: the third (also created an hour ago) too.
	if status, _ := register(live.Token); status != http.StatusUnauthorized {
		t.Errorf("a token created an hour ago with the default TTL: %d, want 401", status)
	}
	for _, tok := range []string{revoked.Token, expired.Token, live.Token} {
		if strings.Contains(f.logs.String(), tok[strings.LastIndex(tok, ".")+1:]) {
			t.Error("a join token's secret appears in the log")
		}
	}
}

func TestWithoutTokenStore(t *testing.T) {
	f := newFixture(t, nil)
	status, body := f.callWith(t, http.MethodPost, "/v1/workloads", workload("web-1.shop", "shop", "web"), "Bearer "+tokens.Prefix+"0123456789abcdef."+strings.Repeat("A", 43))
	if status != http.StatusUnauthorized || decode[apiclient.Error](t, body).Message != "missing or wrong bearer token" {
		t.Errorf("a join token without a token store: %d %s", status, body)
	}
	if status, _ := f.call(t, http.MethodGet, "/v1/tokens", nil); status != http.StatusNotFound {
		t.Errorf("GET /v1/tokens without a token store: %d, want 404", status)
	}
}
