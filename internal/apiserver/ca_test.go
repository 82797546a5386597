package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/ca"
	"github.com/weftmesh/weft/internal/wire"
)

// fakeCA is a CAService whose answers the test sets.
type fakeCA struct {
	mu        sync.Mutex
	rotateErr error
	rotated   []ca.RotateRequest
	active    string // the issuer fingerprint that signs
}

func (f *fakeCA) Rotate(_ context.Context, req ca.RotateRequest) (ca.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rotateErr != nil {
		return ca.Status{}, f.rotateErr
	}
	f.rotated = append(f.rotated, req)
	return f.status(ca.PhaseTrust), nil
}

func (f *fakeCA) Status() ca.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status(ca.PhaseIdle)
}

func (f *fakeCA) status(phase ca.Phase) ca.Status {
	st := ca.Status{
		Phase: phase, Signing: ca.Source{Type: v1alpha1.CATypeBuiltin, Dir: "/data/ca"},
		Issuer: ca.CertSummary{Subject: "CN=root", Fingerprint: "AA:BB", NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)},
		Roots:  []ca.RootStatus{{CertSummary: ca.CertSummary{Subject: "CN=root", Fingerprint: "AA:BB"}, Signs: true, Role: ca.RoleCurrent}},
	}
	if phase != ca.PhaseIdle {
		st.Started = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		st.PhaseSince = st.Started
		st.Lagging = []ca.Laggard{{Kind: "proxy", ID: "web-1.default", Reason: "has not applied a trust bundle with the new root yet"}}
		st.LaggingTotal = 1
	}
	return st
}

func (f *fakeCA) CheckMeshCA(spec *v1alpha1.CASpec) error {
	if spec != nil && spec.Type == v1alpha1.CATypeFiles {
		return errors.New("the CA cannot be changed by an apply: use weft ca rotate")
	}
	return nil
}

func (f *fakeCA) NeedsRenewal(recorded bool, issuer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return recorded && issuer != f.active
}

func TestCARotateAndStatus(t *testing.T) {
	fake := &fakeCA{}
	f := newFixture(t, func(c *Config) { c.CA = fake })

	status, body := f.call(t, http.MethodGet, "/v1/ca/status", nil)
	if st := decode[apiclient.CAStatus](t, body); status != 200 || st.Phase != "idle" || st.Signing.Type != "builtin" ||
		len(st.Roots) != 1 || !st.Roots[0].Signs || st.Issuer.Fingerprint != "AA:BB" || st.Started != nil {
		t.Fatalf("GET /v1/ca/status: %d %s", status, body)
	}
	status, body = f.call(t, http.MethodPost, "/v1/ca/rotate", apiclient.CARotateRequest{Builtin: true})
	if st := decode[apiclient.CAStatus](t, body); status != 200 || st.Phase != "trust" || st.Started == nil || len(st.Lagging) != 1 {
		t.Fatalf("POST /v1/ca/rotate: %d %s", status, body)
	}
	files := apiclient.CARotateRequest{CertFile: "/pki/ca.pem", KeyFile: "/pki/ca-key.pem", ChainFile: "/pki/chain.pem", RootFile: "/pki/root.pem"}
	if status, body := f.call(t, http.MethodPost, "/v1/ca/rotate", files); status != 200 {
		t.Fatalf("rotate to files: %d %s", status, body)
	}
	want := []ca.RotateRequest{{Builtin: true}, {Files: &v1alpha1.CAFiles{CertFile: "/pki/ca.pem", KeyFile: "/pki/ca-key.pem", ChainFile: "/pki/chain.pem", RootFile: "/pki/root.pem"}}}
	if fmt.Sprint(fake.rotated[0]) != fmt.Sprint(want[0]) || *fake.rotated[1].Files != *want[1].Files {
		t.Errorf("rotations asked = %+v, want %+v", fake.rotated, want)
	}

	refusals := []struct {
		name   string
		req    any
		err    error
		status int
		msg    string
	}{
		{"nothing named", apiclient.CARotateRequest{}, nil, 400, "name the CA to rotate to"},
		{"both", apiclient.CARotateRequest{Builtin: true, CertFile: "/a"}, nil, 400, "not both"},
		{"files incomplete and relative", apiclient.CARotateRequest{CertFile: "ca.pem", RootFile: "/root.pem"}, nil, 400,
			"certFile \"ca.pem\" must be an absolute path on weftd's machine\nkeyFile is required"},
		{"unknown field", `{"builtin": true, "vault": "x"}`, nil, 400, "unknown field"},
		{"in progress", apiclient.CARotateRequest{Builtin: true}, fmt.Errorf("%w (phase trust)", ca.ErrRotationInProgress), 409, "already in progress"},
		{"bad CA", files, fmt.Errorf("%w: /pki/ca-key.pem is open to group or others", ca.ErrInvalidCA), 422, "/pki/ca-key.pem is open"},
		{"store failure", apiclient.CARotateRequest{Builtin: true}, errors.New("disk full"), 500, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			fake.mu.Lock()
			fake.rotateErr = tt.err
			fake.mu.Unlock()
			status, body := f.call(t, http.MethodPost, "/v1/ca/rotate", tt.req)
			if status != tt.status || !strings.Contains(decode[apiclient.Error](t, body).Message, tt.msg) {
				t.Errorf("%d %s; want %d with %q", status, body, tt.status, tt.msg)
			}
		})
	}
}

func TestCACallsNeedTheAdminToken(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CA = &fakeCA{} })
	for _, call := range []struct{ method, path string }{{http.MethodGet, "/v1/ca/status"}, {http.MethodPost, "/v1/ca/rotate"}} {
		if status, _ := f.callWith(t, call.method, call.path, apiclient.CARotateRequest{Builtin: true}, "Bearer not-the-token"); status != 401 {
			t.Errorf("%s %s with a wrong token: %d, want 401", call.method, call.path, status)
		}
	}
	g := newFixture(t, nil) // no CA manager
	if status, _ := g.call(t, http.MethodGet, "/v1/ca/status", nil); status != 404 {
		t.Errorf("GET /v1/ca/status without a CA manager: %d, want 404", status)
	}
}

func TestApplyRefusesChangingTheCA(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CA = &fakeCA{} })
	files := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"ca":{"type":"files","files":{"certFile":"/pki/ca.pem","keyFile":"/pki/k.pem","rootFile":"/pki/r.pem"}}}}`
	status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(false, files))
	e := decode[apiclient.Error](t, body)
	if status != 422 || len(e.Details) != 1 || e.Details[0].Field != "spec.ca" || !strings.Contains(e.Details[0].Message, "weft ca rotate") {
		t.Fatalf("applying another CA: %d %s", status, body)
	}
	plain := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"trustDomain":"corp.example"}}`
	if status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(false, plain)); status != 200 {
		t.Fatalf("applying a Mesh without spec.ca: %d %s", status, body)
	}
}

func TestCertificatesFollowTheMeshLifetimeAndAskForRenewal(t *testing.T) {
	fake := &fakeCA{}
	f := newFixture(t, func(c *Config) { c.CA = fake })
	lifetime := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{"certificates":{"lifetime":"90s"}}}`
	if status, body := f.call(t, http.MethodPost, "/v1/apply", applyReq(false, lifetime)); status != 200 {
		t.Fatalf("apply: %d %s", status, body)
	}
	w := wire.Workload{ID: "backend-1.shop", Service: "backend", Namespace: "shop", ServiceAccount: "backend",
		Address: "127.0.0.1", InboundPort: 15006}
	if status, body := f.call(t, http.MethodPost, "/v1/workloads", w); status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	before := time.Now()
	status, body := f.call(t, http.MethodPost, "/v1/certificates",
		apiclient.CertificateRequest{CSR: newCSR(t, "spiffe://weft.local/ns/shop/sa/backend"), WorkloadID: w.ID})
	if status != 200 {
		t.Fatalf("sign: %d %s", status, body)
	}
	leaf, err := ca.ParseCertificates([]byte(decode[apiclient.CertificateResponse](t, body).CertificateChain))
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf[0].NotAfter.Sub(before); got < 88*time.Second || got > 91*time.Second {
		t.Errorf("certificate lives %s after issuance, want the Mesh's 90s", got)
	}
	rec, ok := f.reg.Certificate(w.ID)
	if !ok || rec.Issuer == "" || rec.SerialNumber != leaf[0].SerialNumber.Text(16) || !rec.NotAfter.Equal(leaf[0].NotAfter) {
		t.Fatalf("registry record = %+v (found %v), want the certificate's issuer, serial and expiry", rec, ok)
	}

	renew := func() bool {
		t.Helper()
		status, body := f.call(t, http.MethodPut, "/v1/workloads/backend-1.shop/lease", nil)
		if status != 200 {
			t.Fatalf("renew: %d %s", status, body)
		}
		return decode[apiclient.RegisterResponse](t, body).RenewCertificate
	}
	fake.mu.Lock()
	fake.active = rec.Issuer
	fake.mu.Unlock()
	if renew() {
		t.Error("the lease answer asks to renew a certificate of the CA that signs")
	}
	fake.mu.Lock()
	fake.active = "CC:DD" // a rotation switched the signer
	fake.mu.Unlock()
	if !renew() {
		t.Error("the lease answer does not ask to renew a certificate of a CA that no longer signs")
	}
}
