package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

const ledgerService = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: ledger, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
`

// TestJoinTokens: a proxy started with a join token (and a bootstrap without the admin token)
// registers and serves traffic; the token gets no other identity's certificate and no admin
// call; after `weft token revoke` it registers no new workload, while the running proxy stays
// in the mesh on its certificate.
func TestJoinTokens(t *testing.T) {
	w := startWeftd(t, t.TempDir(), addr(freePort(t)), addr(freePort(t)), "--lease-ttl", "3s")
	w.mustApply(t, ledgerService)

	created := w.createJoinToken(t, "default", "ledger", "10m")
	if created.SPIFFEID != "spiffe://weft.local/ns/default/sa/ledger" {
		t.Fatalf("token grants %s", created.SPIFFEID)
	}
	tokenFile := filepath.Join(t.TempDir(), "ledger.token")
	if err := os.WriteFile(tokenFile, []byte(created.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bootstrap := w.bootstrapWithoutToken(t)
	joined := []string{"--bootstrap", bootstrap, "--join-token-file", tokenFile}

	// The proxy registers with the token and serves traffic.
	ledger := startApp(t, "ledger", "v1")
	p := w.startProxy(t, proxyOpts{service: "ledger", apps: []string{"8080=" + ledger.addr}, extra: joined})
	if !strings.Contains(p.tail(100), "authenticating to weftd with a join token") || strings.Contains(p.tail(100), created.Token) {
		t.Errorf("the proxy's log does not say it uses a join token, or shows it:\n%s", p.tail(100))
	}
	wl, found := w.lookupWorkload(t, p.id)
	if !found || wl.SPIFFEID != created.SPIFFEID || wl.CertExpiry == nil {
		t.Fatalf("the workload registered with the token: %+v", wl)
	}
	clientPort := freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"ledger.default:8080=" + strconv.Itoa(clientPort)}})
	clientURL := "http://" + addr(clientPort) + "/"
	eventually(t, 20*time.Second, "the ledger answers through the mesh", func() error {
		_, _, err := get(clientURL)
		return err
	})
	tr := startTraffic(clientURL, 4, 400, 20*time.Second)
	tr.waitFor(t, 100)
	if ok, _ := tr.finish(t); ok == 0 {
		t.Fatal("no request was answered")
	}

	// The token gets neither another identity's certificate nor an admin call.
	cfg, err := apiclient.LoadBootstrap(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	c, err := apiclient.New(cfg.WithToken(created.Token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.SignCertificate(ctx, &apiclient.CertificateRequest{CSR: joinTokenCSR(t, "spiffe://weft.local/ns/default/sa/payments")})
	wantAPIError(t, "a CSR for another identity", err, http.StatusForbidden,
		"not allowed to obtain a certificate for spiffe://weft.local/ns/default/sa/payments: join token "+created.ID+" grants only spiffe://weft.local/ns/default/sa/ledger")
	_, err = c.Workloads(ctx)
	wantAPIError(t, "listing workloads", err, http.StatusForbidden, "GET /v1/workloads needs the admin token")
	_, err = c.Apply(ctx, &apiclient.ApplyRequest{Resources: []json.RawMessage{json.RawMessage(`{}`)}})
	wantAPIError(t, "applying", err, http.StatusForbidden, "POST /v1/apply needs the admin token")

	// A proxy of another service account cannot use the token: it stops, saying why.
	other := startProc(t, "proxy-payments", "weft-proxy", append([]string{"--service", "payments", "--id", "payments-1.default",
		"--admin-addr", addr(freePort(t)), "--inbound-port", strconv.Itoa(freePort(t))}, joined...)...)
	if err := other.wait(20 * time.Second); err == nil {
		t.Error("a proxy of service account payments ran with the ledger's join token")
	}
	if log := other.tail(20); !strings.Contains(log, `is for namespace \"default\", service account \"ledger\"; workload payments-1.default has namespace \"default\", service account \"payments\"`) {
		t.Errorf("the refused proxy's log does not say why:\n%s", log)
	}

	// Revocation: the token registers nothing any more.
	if out, err := w.weft(t, "", "token", "revoke", created.ID); err != nil || !strings.Contains(out, "join token "+created.ID+" (spiffe://weft.local/ns/default/sa/ledger) revoked") {
		t.Fatalf("weft token revoke: %v\n%s", err, out)
	}
	_, err = c.RegisterWorkload(ctx, &wire.Workload{ID: "ledger-2.default", Service: "ledger", Namespace: "default", ServiceAccount: "ledger",
		Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080}})
	wantAPIError(t, "registering with a revoked token", err, http.StatusUnauthorized, "join token "+created.ID+" was revoked at ")
	wantRevokedTokenRefused(t, created.ID, joined)
	out, err := w.weft(t, "", "token", "list")
	if err != nil || !strings.Contains(out, created.ID) || !strings.Contains(out, "revoked") || strings.Contains(out, created.Token) {
		t.Errorf("weft token list after the revocation: %v\n%s", err, out)
	}

	// The running proxy renews its lease with its workload certificate, not the token: its
	// workload stays in the mesh (TestCertificateOutlivesJoinToken checks it at length).
	if _, found := w.lookupWorkload(t, p.id); !found {
		t.Error("the running proxy's workload left the registry when its join token was revoked")
	}
}
