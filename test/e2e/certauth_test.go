package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCertificateOutlivesJoinToken: a proxy joins with a short-lived join token, which is
// then revoked. With certificates of a few seconds and a lease of 3s, the proxy keeps
// renewing its lease and its certificate with the certificate itself, and keeps serving
// traffic without a failure, while a new proxy with the revoked token is refused.
func TestCertificateOutlivesJoinToken(t *testing.T) {
	w := startWeftd(t, t.TempDir(), addr(freePort(t)), addr(freePort(t)), "--lease-ttl", "3s")
	w.mustApply(t, ledgerService+`---
apiVersion: mesh.weft.dev/v1alpha1
kind: Mesh
metadata: {name: default}
spec: {certificates: {lifetime: 4s}}
`)
	created := w.createJoinToken(t, "default", "ledger", "1m")
	tokenFile := filepath.Join(t.TempDir(), "ledger.token")
	if err := os.WriteFile(tokenFile, []byte(created.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	joined := []string{"--bootstrap", w.bootstrapWithoutToken(t), "--join-token-file", tokenFile}

	ledger := startApp(t, "ledger", "v1")
	p := w.startProxy(t, proxyOpts{service: "ledger", apps: []string{"8080=" + ledger.addr}, extra: joined})
	clientPort := freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"ledger.default:8080=" + strconv.Itoa(clientPort)}})
	clientURL := "http://" + addr(clientPort) + "/"
	eventually(t, 20*time.Second, "the ledger answers through the mesh", func() error {
		_, _, err := get(clientURL)
		return err
	})
	tr := startTraffic(clientURL, 2, 200000, 60*time.Second)
	tr.waitFor(t, 50)

	if out, err := w.weft(t, "", "token", "revoke", created.ID); err != nil {
		t.Fatalf("weft token revoke: %v\n%s", err, out)
	}
	failuresAtRevocation := p.metric(t, "weft_proxy_lease_renewal_failures_total")

	// Three certificates after the revocation (each renewed at half of 4s), so well past the
	// 3s lease: every renewal since was authenticated by the certificate.
	serials := map[string]bool{p.serial(t): true}
	eventually(t, 30*time.Second, "three certificate renewals after the revocation", func() error {
		serials[p.serial(t)] = true
		if len(serials) < 4 {
			return fmt.Errorf("%d certificates so far", len(serials))
		}
		return nil
	})
	if wl, found := w.lookupWorkload(t, p.id); !found || wl.CertExpiry == nil {
		t.Errorf("the ledger's workload after the revocation: %+v, found %v; want it registered with its certificate", wl, found)
	} else if until := time.Until(*wl.CertExpiry); until <= 0 || until > 5*time.Second {
		t.Errorf("weftd records the ledger's certificate expiring in %v, want a current 4s certificate", until)
	}
	if got := p.metric(t, "weft_proxy_lease_renewal_failures_total"); got != failuresAtRevocation {
		t.Errorf("lease renewal failures went from %v to %v after the revocation:\n%s", failuresAtRevocation, got, p.tail(30))
	}
	if log := p.tail(200); strings.Contains(log, created.Token) {
		t.Error("the proxy's log shows the join token")
	}

	// The revoked token bootstraps no new proxy.
	wantRevokedTokenRefused(t, created.ID, joined)

	tr.waitFor(t, 50)
	ok, _ := tr.finish(t)
	t.Logf("%d requests answered across %d certificates after the join token was revoked", ok, len(serials))
}
