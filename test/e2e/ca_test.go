package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShortCertificatesRenewUnderTraffic: with certificates.lifetime of a few seconds, every
// proxy renews its certificate at half-life, again and again, while requests flow through the
// gateway and two sidecars without one failing.
func TestShortCertificatesRenewUnderTraffic(t *testing.T) {
	m := startCAMesh(t, `apiVersion: mesh.weft.dev/v1alpha1
kind: Mesh
metadata: {name: default}
spec: {certificates: {lifetime: 4s}}
`)
	tr := startTraffic(m.url, 4, 400000, 90*time.Second)
	tr.waitFor(t, 20)

	proxies := []*proxy{m.gateway, m.front, m.back}
	serials := make([]map[string]bool, len(proxies))
	for i, p := range proxies {
		serials[i] = map[string]bool{p.serial(t): true}
	}
	// Three renewals each: four certificates seen per proxy.
	eventually(t, 40*time.Second, "three certificate renewals per proxy", func() error {
		for i, p := range proxies {
			serials[i][p.serial(t)] = true
			if len(serials[i]) < 4 {
				return fmt.Errorf("%s: %d certificates so far", p.name, len(serials[i]))
			}
		}
		return nil
	})
	tr.waitFor(t, 20)
	ok, _ := tr.finish(t)
	t.Logf("%d requests, all answered, across %v certificates per proxy", ok, []int{len(serials[0]), len(serials[1]), len(serials[2])})

	// weft get workloads shows each workload's current certificate expiry (seconds away, not
	// a day), the gateway among them.
	out, err := m.w.weft(t, "", "get", "workloads", "-o", "json")
	if err != nil {
		t.Fatalf("weft get workloads: %v\n%s", err, out)
	}
	var list struct {
		Items []struct {
			ID         string     `json:"id"`
			Service    string     `json:"service"`
			Gateway    bool       `json:"gateway"`
			SPIFFEID   string     `json:"spiffeID"`
			CertExpiry *time.Time `json:"certExpiry"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding weft get workloads: %v\n%s", err, out)
	}
	if len(list.Items) != 3 {
		t.Fatalf("%d workloads registered, want the two sidecars and the gateway:\n%s", len(list.Items), out)
	}
	for _, w := range list.Items {
		if w.CertExpiry == nil || time.Until(*w.CertExpiry) > 10*time.Second {
			t.Errorf("workload %s: certificate expiry %v, want the last 4s certificate's", w.ID, w.CertExpiry)
		}
		if w.Gateway != (w.Service == "ingress") || !strings.HasPrefix(w.SPIFFEID, "spiffe://weft.local/ns/default/sa/") {
			t.Errorf("workload %s: service %s, gateway %v, identity %s", w.ID, w.Service, w.Gateway, w.SPIFFEID)
		}
	}
	if out, err := m.w.weft(t, "", "get", "workloads"); err != nil || !strings.Contains(out, "gateway/ingress") {
		t.Errorf("weft get workloads does not show the gateway as gateway/ingress: %v\n%s", err, out)
	}
}

// TestRotateToANewBuiltinRootUnderTraffic: `weft ca rotate --builtin --wait` moves every proxy
// to a new root while requests flow, without one failing; afterwards the trust bundle holds
// the new root alone and the proxies' certificates chain to it.
func TestRotateToANewBuiltinRootUnderTraffic(t *testing.T) {
	m := startCAMesh(t, "")
	before := m.w.caStatus(t)
	if before.Phase != "idle" || len(before.Roots) != 1 || !before.Roots[0].Signs {
		t.Fatalf("before the rotation: %+v, want idle with one signing root", before)
	}
	oldRoot := readCert(t, filepath.Join(m.w.dataDir, "ca", "root.pem"))

	tr := startTraffic(m.url, 4, 400000, 120*time.Second)
	tr.waitFor(t, 20)
	out, err := m.w.weft(t, "", "ca", "rotate", "--builtin", "--wait", "--wait-timeout", "90s")
	if err != nil {
		t.Fatalf("weft ca rotate --builtin --wait: %v\n%s", err, out)
	}
	t.Logf("weft ca rotate --builtin --wait:\n%s", out)
	for _, want := range []string{"CA rotation started", "CA rotation done"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	tr.waitFor(t, 20) // traffic goes on with the new CA alone
	ok, _ := tr.finish(t)
	t.Logf("%d requests through the rotation, all answered", ok)

	// A burst of concurrent requests makes the proxies open new connections to each other:
	// TLS sessions established under the old root must not be resumed now that it is gone.
	// Wait for the burst to end rather than for 3000 more answers: some may be in already.
	burst := startTraffic(m.url, 48, 3000, 60*time.Second)
	select {
	case <-burst.done:
	case <-time.After(90 * time.Second):
		t.Fatal("the burst of 3000 requests did not end")
	}
	if n := burst.count(); n < 3000 {
		t.Errorf("the burst got %d answers within its 60s, want 3000", n)
	}
	burst.finish(t)

	after := m.w.caStatus(t)
	if after.Phase != "idle" || len(after.Roots) != 1 || after.Roots[0].Fingerprint == before.Roots[0].Fingerprint ||
		after.Signing.Type != "builtin" || after.LaggingTotal != 0 {
		t.Fatalf("after the rotation: %+v, want idle with one new root", after)
	}
	newRoot := readCert(t, filepath.Join(after.Signing.Dir, "root.pem"))
	for _, p := range []*proxy{m.front, m.back} {
		chain := p.servedChain(t, 8080)
		if err := verifyChain(chain, newRoot); err != nil {
			t.Errorf("%s's certificate does not chain to the new root: %v", p.name, err)
		}
		if verifyChain(chain, oldRoot) == nil {
			t.Errorf("%s's certificate still chains to the old root", p.name)
		}
	}
	for _, p := range []*proxy{m.gateway, m.front, m.back} {
		if n := p.trustBundleSize(t); n != 1 {
			t.Errorf("%s trusts %d roots after the rotation, want the new one only", p.name, n)
		}
	}
}

// TestRotateToTheOrganisationPKIUnderTraffic: the mesh moves from the built-in root to an
// intermediate of a three-level PKI made here, under traffic, without a failed request; the
// proxies then present leaf + intermediates that verify against the organisation's root, and
// the Mesh records the new CA, which an apply cannot change.
func TestRotateToTheOrganisationPKIUnderTraffic(t *testing.T) {
	m := startCAMesh(t, "")
	pki := newOrgPKI(t)

	tr := startTraffic(m.url, 4, 400000, 120*time.Second)
	tr.waitFor(t, 20)
	out, err := m.w.weft(t, "", "ca", "rotate", "--cert-file", pki.certFile, "--key-file", pki.keyFile,
		"--chain-file", pki.chainFile, "--root-file", pki.rootFile, "--wait", "--wait-timeout", "90s")
	if err != nil {
		t.Fatalf("weft ca rotate (files) --wait: %v\n%s", err, out)
	}
	tr.waitFor(t, 20)
	ok, _ := tr.finish(t)
	t.Logf("%d requests through the rotation, all answered", ok)

	st := m.w.caStatus(t)
	if st.Phase != "idle" || st.Signing.Type != "files" || st.Signing.CertFile != pki.certFile ||
		len(st.Roots) != 1 || !strings.Contains(st.Roots[0].Subject, "Example Corp Root CA") || !st.Roots[0].Signs {
		t.Fatalf("after the rotation: %+v, want the files CA signing and the organisation's root alone", st)
	}
	for _, p := range []*proxy{m.front, m.back} {
		chain := p.servedChain(t, 8080)
		if len(chain) != 3 {
			t.Errorf("%s presents %d certificates, want leaf + mesh CA + policy CA", p.name, len(chain))
		}
		if err := verifyChain(chain, pki.root); err != nil {
			t.Errorf("%s's chain does not verify against the organisation's root: %v", p.name, err)
		}
	}

	// The Mesh names the CA in use; an apply cannot switch it behind the rotation's back.
	out, err = m.w.weft(t, "", "get", "meshes", "default", "-o", "json")
	if err != nil || !strings.Contains(out, `"type": "files"`) || !strings.Contains(out, pki.certFile) {
		t.Errorf("weft get meshes default: %v\n%s; want spec.ca naming the files CA", err, out)
	}
	out, err = m.w.weft(t, `apiVersion: mesh.weft.dev/v1alpha1
kind: Mesh
metadata: {name: default}
spec: {ca: {type: builtin}}
`, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.ca") || !strings.Contains(out, "weft ca rotate") {
		t.Errorf("applying spec.ca builtin after the rotation: %v\n%s; want a refusal pointing to weft ca rotate", err, out)
	}
}
