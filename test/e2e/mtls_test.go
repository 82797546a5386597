package e2e

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/wire"
)

const webService = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
`

// namespaceMTLS is the MTLSPolicy of namespace default, in mode.
func namespaceMTLS(mode string) string {
	return `
apiVersion: mesh.weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: default, namespace: default}
spec:
  targetRef: {kind: Namespace, name: default}
  mode: ` + mode + "\n"
}

// webMesh is weftd, the web Service served by a demo-app behind its sidecar, and a client
// sidecar calling web on clientURL.
type webMesh struct {
	w         *weftd
	web       *proxy
	client    *proxy
	clientURL string
}

func startWebMesh(t *testing.T, policy string) *webMesh {
	t.Helper()
	m := &webMesh{w: newWeftd(t)}
	m.w.mustApply(t, webService+"---\n"+policy)
	a := startApp(t, "web", "v1")
	m.web = m.w.startProxy(t, proxyOpts{service: "web", version: "v1", apps: []string{"8080=" + a.addr}})
	local := freePort(t)
	m.client = m.w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"web.default:8080=" + strconv.Itoa(local)}})
	m.clientURL = "http://" + addr(local) + "/"
	eventually(t, 20*time.Second, "the client reaches web", func() error {
		_, _, err := get(m.clientURL)
		return err
	})
	return m
}

// TestPermissiveToStrictWithTheReport walks the road of docs/security-mtls.md: under
// PERMISSIVE a mesh caller and a plaintext client get answers from the same port; the report
// names the plaintext client and says STRICT would break it; after STRICT is applied the
// plaintext client is refused, and mesh traffic sent across the switch lost nothing.
func TestPermissiveToStrictWithTheReport(t *testing.T) {
	m := startWebMesh(t, namespaceMTLS("PERMISSIVE"))
	inbound := addr(m.web.inboundPort)

	wantPlaintext(t, inbound, true)
	a, _, err := get("http://" + inbound + "/direct")
	if err != nil || a.Service != "web" {
		t.Fatalf("plaintext client: %+v, %v", a, err)
	}
	if a, _, err := get(m.clientURL); err != nil || a.Service != "web" {
		t.Fatalf("mesh caller: %+v, %v", a, err)
	}
	if n := m.web.metric(t, `weft_inbound_plaintext_connections_total{listener="inbound",port="8080"}`); n < 2 {
		t.Errorf("plaintext connections counted: %v, want at least 2", n)
	}

	eventually(t, 10*time.Second, "the report names the plaintext client", func() error {
		verdict, ready, peers, err := m.w.mtlsReportFor(t, m.web.id, 8080)
		if err != nil {
			return err
		}
		if ready || peers["127.0.0.1"] < 2 || !strings.HasPrefix(verdict, "switching to STRICT would break: 127.0.0.1 (") {
			return fmt.Errorf("verdict %q, ready %v, peers %v", verdict, ready, peers)
		}
		return nil
	})
	out, err := m.w.weft(t, "", "mtls", "report")
	if err != nil || !strings.Contains(out, m.web.id) || !strings.Contains(out, "switching to STRICT would break: 127.0.0.1 (") {
		t.Fatalf("weft mtls report (table): %v\n%s", err, out)
	}

	// The switch, under continuous mesh traffic.
	tr := startTraffic(m.clientURL, 4, 200000, 60*time.Second)
	tr.waitFor(t, 100)
	m.w.mustApply(t, namespaceMTLS("STRICT"))
	wantPlaintext(t, inbound, false)
	tr.waitFor(t, 100)
	if ok, _ := tr.finish(t); ok == 0 {
		t.Fatal("no mesh request was answered")
	}
	if verdict, ready, _, err := m.w.mtlsReportFor(t, m.web.id, 8080); err != nil || !ready || verdict != "STRICT in force" {
		t.Errorf("report after the switch: %q, ready %v, %v", verdict, ready, err)
	}
}

// TestServerFirstPortUnderPermissive: a TCP app that writes a banner on accept (the client
// only reads) works under PERMISSIVE on a port declared serverFirst, on a dedicated inbound
// port, for a plaintext client and for a mesh caller.
func TestServerFirstPortUnderPermissive(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: smtp, namespace: default}
spec:
  ports: [{name: smtp, port: 2525, appProtocol: tcp, serverFirst: true}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: smtp, namespace: default}
spec:
  targetRef: {kind: Service, name: smtp}
  mode: PERMISSIVE
`)
	banner := "220 smtp.e2e ESMTP ready\r\n"
	app := startBannerServer(t, banner)
	dedicated := freePort(t)
	smtp := w.startProxy(t, proxyOpts{service: "smtp", apps: []string{fmt.Sprintf("2525=%s@%d", app, dedicated)}})
	local := freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"smtp.default:2525=" + strconv.Itoa(local)}})

	// The mesh caller reaches the dedicated port (the endpoint of service port 2525) over
	// mutual TLS.
	eventually(t, 20*time.Second, "the mesh caller gets the banner", func() error {
		line, _, err := readBanner(addr(local))
		if err != nil || line != banner {
			return fmt.Errorf("got %q, %v", line, err)
		}
		return nil
	})
	// A plaintext client straight to the dedicated port gets the banner once the detection
	// bound (20ms) has passed: well within a second, never the 10s handshake timeout.
	line, took, err := readBanner(addr(dedicated))
	if err != nil || line != banner {
		t.Fatalf("plaintext client: got %q, %v", line, err)
	}
	if took > 2*time.Second {
		t.Errorf("the plaintext client waited %s for the banner", took)
	}
	if n := smtp.metric(t, `weft_protocol_detection_timeouts_total{listener="inbound|2525"}`); n < 1 {
		t.Errorf("detection timeouts on inbound|2525: %v, want at least 1 (the silent client)", n)
	}
	if n := smtp.metric(t, `weft_inbound_plaintext_connections_total{listener="inbound|2525",port="2525"}`); n != 1 {
		t.Errorf("plaintext connections on inbound|2525: %v, want 1 (the mesh caller used mutual TLS)", n)
	}
}

// TestDisableEndToEnd: a DISABLE port on a dedicated inbound port takes plaintext only, from
// mesh callers (their proxies send plaintext) and from plain clients. The other port of the
// workload is PERMISSIVE without a dedicated port: mesh callers reach it over mutual TLS on the
// shared inbound port, where plaintext is refused (it cannot say which of the two ports it
// wants) and counted.
func TestDisableEndToEnd(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  ports: [{name: old, port: 8080, appProtocol: http}, {name: new, port: 9090, appProtocol: http}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: legacy, namespace: default}
spec:
  targetRef: {kind: Service, name: legacy}
  mode: PERMISSIVE
  ports: [{port: 8080, mode: DISABLE}]
`)
	oldApp, newApp := startApp(t, "legacy", "old"), startApp(t, "legacy", "new")
	dedicated := freePort(t)
	legacy := w.startProxy(t, proxyOpts{service: "legacy", apps: []string{
		fmt.Sprintf("8080=%s@%d", oldApp.addr, dedicated), "9090=" + newApp.addr,
	}})
	oldLocal, newLocal := freePort(t), freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{
		"legacy.default:8080=" + strconv.Itoa(oldLocal), "legacy.default:9090=" + strconv.Itoa(newLocal),
	}})

	for local, version := range map[int]string{oldLocal: "old", newLocal: "new"} {
		eventually(t, 20*time.Second, "the mesh caller reaches legacy "+version, func() error {
			a, _, err := get("http://" + addr(local) + "/")
			if err == nil && a.Version != version {
				err = fmt.Errorf("answered by %s", a.Version)
			}
			return err
		})
	}
	wantPlaintext(t, addr(dedicated), true)
	if n := legacy.metric(t, `weft_inbound_plaintext_connections_total{listener="inbound|8080",port="8080"}`); n < 2 {
		t.Errorf("plaintext connections on the DISABLE port: %v, want at least 2 (caller's proxy and plain client)", n)
	}

	// TLS is not taken on the DISABLE port, even from a mesh identity.
	cert := w.meshCert(t, "spiffe://weft.local/ns/default/sa/client")
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: wire.InboundSNI(8080), NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{cert}}
	if err := tlsRoundTrip(addr(dedicated), cfg); err == nil {
		t.Error("a TLS client was served on the DISABLE port")
	}

	// Plaintext on the shared inbound port cannot say which of the two ports it wants.
	wantPlaintext(t, addr(legacy.inboundPort), false)
	if n := legacy.metric(t, `weft_inbound_plaintext_refused_total{listener="inbound"}`); n < 1 {
		t.Errorf("refused plaintext on the shared port: %v, want at least 1", n)
	}
	// The other port takes mutual TLS on the shared port.
	cfg.ServerName = wire.InboundSNI(9090)
	if err := tlsRoundTrip(addr(legacy.inboundPort), cfg); err != nil {
		t.Errorf("mutual TLS to the STRICT port: %v", err)
	}
}

// TestTLSMinimumVersion: a TLS 1.2 client with a valid mesh certificate is refused while the
// mesh minimum is 1.3 (the default), and served once the Mesh allows 1.2.
func TestTLSMinimumVersion(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, webService)
	a := startApp(t, "web", "v1")
	web := w.startProxy(t, proxyOpts{service: "web", apps: []string{"8080=" + a.addr}})
	inbound := addr(web.inboundPort)

	cert := w.meshCert(t, "spiffe://weft.local/ns/default/sa/client")
	client := func(version uint16) *tls.Config {
		return &tls.Config{
			InsecureSkipVerify: true, ServerName: wire.InboundSNI(8080), NextProtos: []string{"http/1.1"},
			Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version,
		}
	}
	if err := tlsRoundTrip(inbound, client(tls.VersionTLS13)); err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	if err := tlsRoundTrip(inbound, client(tls.VersionTLS12)); err == nil {
		t.Fatal("a TLS 1.2 client was served while the mesh minimum is 1.3")
	}

	w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Mesh
metadata: {name: default}
spec:
  tls: {minVersion: "1.2"}
`)
	eventually(t, 20*time.Second, "a TLS 1.2 client is served", func() error {
		return tlsRoundTrip(inbound, client(tls.VersionTLS12))
	})
}

// TestMTLSExamplesApply applies the example files of docs/security-mtls.md in their order, as
// the guide does, and reads the policies back.
func TestMTLSExamplesApply(t *testing.T) {
	w := newWeftd(t)
	for _, f := range []string{"01-services.yaml", "02-permissive.yaml", "03-strict.yaml", "04-port-exception.yaml", "mesh-tls12.yaml"} {
		if out, err := w.weft(t, "", "apply", "-f", "../../examples/security/mtls/"+f); err != nil {
			t.Fatalf("weft apply -f %s: %v\n%s", f, err, out)
		}
	}
	out, err := w.weft(t, "", "get", "mtlspolicies", "-n", "shop")
	if err != nil || !strings.Contains(out, "shop") || !strings.Contains(out, "mail") {
		t.Fatalf("weft get mtlspolicies: %v\n%s", err, out)
	}
	out, err = w.weft(t, "", "get", "mtlspolicy", "shop", "-n", "shop", "-o", "yaml")
	if err != nil || !strings.Contains(out, "mode: STRICT") {
		t.Fatalf("weft get mtlspolicy shop: %v\n%s", err, out)
	}
}
