package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// caMesh is weftd (short leases, so that rotations move fast), a gateway and two sidecars:
// gateway -> frontend -> backend, every hop over mutual TLS; the test calls the gateway.
type caMesh struct {
	w                    *weftd
	gateway, front, back *proxy
	url                  string
}

const caServices = `apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: backend, namespace: default}
spec: {ports: [{name: http, port: 8080, appProtocol: http}]}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: frontend, namespace: default}
spec: {ports: [{name: http, port: 8080, appProtocol: http}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: default}
spec:
  gatewayClassName: weft
  listeners: [{name: http, protocol: HTTP, port: %d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ingress, namespace: default}
spec:
  parentRefs: [{name: ingress}]
  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
`

// startCAMesh starts the mesh; meshYAML, when set, is applied first (a Mesh resource).
func startCAMesh(t *testing.T, meshYAML string) *caMesh {
	t.Helper()
	m := &caMesh{w: startWeftd(t, t.TempDir(), addr(freePort(t)), addr(freePort(t)), "--lease-ttl", "6s")}
	if meshYAML != "" {
		m.w.mustApply(t, meshYAML)
	}
	gwPort := freePort(t)
	m.w.mustApply(t, fmt.Sprintf(caServices, gwPort))
	backApp := startApp(t, "backend", "v1")
	m.back = m.w.startProxy(t, proxyOpts{service: "backend", version: "v1", apps: []string{"8080=" + backApp.addr}})
	up := freePort(t)
	frontApp := startApp(t, "frontend", "v1", "http://"+addr(up)+"/")
	m.front = m.w.startProxy(t, proxyOpts{service: "frontend", version: "v1", apps: []string{"8080=" + frontApp.addr},
		upstreams: []string{"backend.default:8080=" + strconv.Itoa(up)}})
	m.gateway = m.w.startProxy(t, proxyOpts{gateway: "ingress"})
	m.url = "http://" + addr(gwPort) + "/"
	eventually(t, 20*time.Second, "the gateway answers through frontend and backend", func() error {
		a, _, err := get(m.url)
		if err != nil {
			return err
		}
		if a.Service != "frontend" || len(a.Calls) != 1 || a.Calls[0].Service != "backend" {
			return fmt.Errorf("answer %+v, want frontend calling backend", a)
		}
		return nil
	})
	return m
}

// caStatus reads `weft ca status -o json`.
func (w *weftd) caStatus(t testing.TB) apiclient.CAStatus {
	t.Helper()
	out, err := w.weft(t, "", "ca", "status", "-o", "json")
	if err != nil {
		t.Fatalf("weft ca status: %v\n%s", err, out)
	}
	var st apiclient.CAStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("decoding weft ca status: %v\n%s", err, out)
	}
	return st
}

// serial is the serial number of the proxy's workload certificate, from /config_dump.
func (p *proxy) serial(t testing.TB) string {
	t.Helper()
	id, _ := p.configDump(t)["identity"].(map[string]any)
	s, _ := id["serialNumber"].(string)
	return s
}

// trustBundleSize is the number of certificates of the trust bundle the proxy runs with.
func (p *proxy) trustBundleSize(t testing.TB) int {
	t.Helper()
	cfg, _ := p.configDump(t)["config"].(map[string]any)
	bundle, _ := cfg["TrustBundle"].([]any)
	return len(bundle)
}

// servedChain is the certificate chain a sidecar presents on its inbound listener for a
// service port (leaf first). The handshake stops there: the test has no client certificate.
func (p *proxy) servedChain(t testing.TB, port int32) []*x509.Certificate {
	t.Helper()
	var chain []*x509.Certificate
	conn, err := tls.Dial("tcp", addr(p.inboundPort), &tls.Config{
		ServerName:         wire.InboundSNI(port),
		NextProtos:         []string{"http/1.1"},
		InsecureSkipVerify: true, // the chain is checked below, against the root the test names
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	})
	if err == nil {
		conn.Close()
	}
	if len(chain) == 0 {
		t.Fatalf("%s presented no certificate on its inbound listener (dial error: %v)", p.name, err)
	}
	return chain
}

// verifyChain checks that a served chain leads to root (and only says whether it does).
func verifyChain(chain []*x509.Certificate, root *x509.Certificate) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// orgPKI is an organisation's PKI on disk: root -> policy CA -> issuing CA for the mesh.
type orgPKI struct {
	root                                   *x509.Certificate
	rootFile, chainFile, certFile, keyFile string
}

// newOrgPKI writes a three-level PKI to a temporary directory, the issuing CA's key 0600.
func newOrgPKI(t *testing.T) *orgPKI {
	t.Helper()
	dir := t.TempDir()
	type ca struct {
		cert *x509.Certificate
		key  *ecdsa.PrivateKey
	}
	mk := func(cn string, parent *ca) *ca {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		parentCert, parentKey := tmpl, key
		if parent != nil {
			parentCert, parentKey = parent.cert, parent.key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return &ca{cert: cert, key: key}
	}
	root := mk("Example Corp Root CA", nil)
	policy := mk("Example Corp Policy CA", root)
	issuing := mk("Example Corp Mesh CA", policy)
	write := func(name string, blockType string, der []byte, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(issuing.key)
	if err != nil {
		t.Fatal(err)
	}
	return &orgPKI{
		root:      root.cert,
		rootFile:  write("root.pem", "CERTIFICATE", root.cert.Raw, 0o644),
		chainFile: write("chain.pem", "CERTIFICATE", policy.cert.Raw, 0o644),
		certFile:  write("mesh-ca.pem", "CERTIFICATE", issuing.cert.Raw, 0o644),
		keyFile:   write("mesh-ca-key.pem", "PRIVATE KEY", keyDER, 0o600),
	}
}
