package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// createJoinToken runs `weft token create -o json` for a token valid for ttl (as --ttl takes it).
func (w *weftd) createJoinToken(t *testing.T, namespace, serviceAccount, ttl string) apiclient.CreateJoinTokenResponse {
	t.Helper()
	out, err := w.weft(t, "", "token", "create", "--namespace", namespace, "--service-account", serviceAccount, "--ttl", ttl, "-o", "json")
	if err != nil {
		t.Fatalf("weft token create: %v\n%s", err, out)
	}
	var created apiclient.CreateJoinTokenResponse
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Token == "" {
		t.Fatalf("weft token create -o json printed %q: %v", out, err)
	}
	return created
}

// wantRevokedTokenRefused starts a second ledger proxy with joined, flags that give it the
// revoked join token tokenID, and checks that it exits, saying the token was revoked.
func wantRevokedTokenRefused(t *testing.T, tokenID string, joined []string) {
	t.Helper()
	again := startProc(t, "proxy-ledger-again", "weft-proxy", append([]string{"--service", "ledger", "--id", "ledger-2.default",
		"--admin-addr", addr(freePort(t)), "--inbound-port", strconv.Itoa(freePort(t))}, joined...)...)
	if err := again.wait(20 * time.Second); err == nil {
		t.Error("a proxy started with a revoked join token ran")
	}
	if log := again.tail(20); !strings.Contains(log, "join token "+tokenID+" was revoked at") {
		t.Errorf("the refused proxy's log does not say the token was revoked:\n%s", log)
	}
}

// bootstrapWithoutToken returns the proxy bootstrap weftd wrote in its data directory, after
// checking that it holds no token.
func (w *weftd) bootstrapWithoutToken(t *testing.T) string {
	t.Helper()
	path := filepath.Join(w.dataDir, "proxy-bootstrap.json")
	cfg, err := apiclient.LoadBootstrap(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "" {
		t.Fatalf("weftd's %s holds a token", path)
	}
	return path
}

// lookupWorkload reads one registered workload with `weft get workloads -o json`.
func (w *weftd) lookupWorkload(t *testing.T, id string) (wire.Workload, bool) {
	t.Helper()
	out, err := w.weft(t, "", "get", "workloads", "-A", "-o", "json")
	if err != nil {
		t.Fatalf("weft get workloads: %v\n%s", err, out)
	}
	var list apiclient.WorkloadList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("weft get workloads -o json printed %q: %v", out, err)
	}
	for _, wl := range list.Items {
		if wl.ID == id {
			return wl, true
		}
	}
	return wire.Workload{}, false
}

// wantAPIError checks that err is weftd's answer status with a message containing msg.
func wantAPIError(t *testing.T, what string, err error, status int, msg string) {
	t.Helper()
	var apiErr *apiclient.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || !strings.Contains(apiErr.Body.Message, msg) {
		t.Errorf("%s: %v, want %d %q", what, err, status, msg)
	}
}

// joinTokenCSR is a PEM CSR for a SPIFFE ID, with a fresh key.
func joinTokenCSR(t *testing.T, spiffeID string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(fmt.Errorf("creating a CSR for %s: %w", spiffeID, err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}
