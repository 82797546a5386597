package ca

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// memState is an in-memory StateStore whose saves can be made to fail.
type memState struct {
	mu    sync.Mutex
	saved *State
	fail  error
}

func (s *memState) Load() (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == nil {
		return nil, nil
	}
	c := s.saved.clone()
	return &c, nil
}

func (s *memState) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	c := st.clone()
	s.saved = &c
	return nil
}

// fleet is what the xDS server and the registry would report, and the clock.
type fleet struct {
	mu        sync.Mutex
	proxies   []ProxyTrust
	workloads []WorkloadCert
	now       time.Time
	recorded  []*v1alpha1.CASpec
	recordErr error
}

func (f *fleet) Proxies() []ProxyTrust {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.proxies)
}

func (f *fleet) Workloads() []WorkloadCert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.workloads)
}

func (f *fleet) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fleet) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fleet) record(_ context.Context, spec *v1alpha1.CASpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recordErr != nil {
		return f.recordErr
	}
	f.recorded = append(f.recorded, spec)
	return nil
}

// ack makes every proxy but those named in skip acknowledge bundle.
func (f *fleet) ack(bundle []byte, skip ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.proxies {
		if f.proxies[i].UsesBundle && !slices.Contains(skip, f.proxies[i].NodeID) {
			f.proxies[i].Acked = bytes.Clone(bundle)
		}
	}
}

func (f *fleet) setWorkloads(w ...WorkloadCert) {
	f.mu.Lock()
	f.workloads = w
	f.mu.Unlock()
}

type rig struct {
	dir   string
	state *memState
	fleet *fleet
}

func newRig(t *testing.T) *rig {
	return &rig{
		dir:   filepath.Join(t.TempDir(), "ca"),
		state: &memState{},
		fleet: &fleet{now: now, proxies: []ProxyTrust{
			{NodeID: "web-1.default", UsesBundle: true},
			{NodeID: "api-1.default", UsesBundle: true},
			{NodeID: "grpc-client", UsesBundle: false}, // proxyless: no ROOTCA
		}},
	}
}

// manager opens a Manager on the rig's state, as a (re)started weftd would.
func (r *rig) manager(t *testing.T) *Manager {
	t.Helper()
	m, err := NewManager(ManagerConfig{
		Dir: r.dir, State: r.state, Proxies: r.fleet.Proxies, Workloads: r.fleet.Workloads,
		RecordMeshCA: r.fleet.record, LeafTTL: time.Hour, Now: r.fleet.Now,
	}, nil)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// sign has m sign a CSR and returns the issuer fingerprint and trust bundle of the answer.
func sign(t *testing.T, m *Manager) *Issued {
	t.Helper()
	issued, err := m.Sign(t.Context(), SignRequest{CSR: csr(t, key(t, elliptic.P256()), []string{testSPIFFE}), TrustDomain: "weft.local"})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return issued
}

func laggingIDs(st Status) []string {
	var ids []string
	for _, l := range st.Lagging {
		ids = append(ids, l.Kind+" "+l.ID)
	}
	return ids
}

func roles(st Status) []string {
	var out []string
	for _, r := range st.Roots {
		s := r.Role
		if r.Signs {
			s += "+signs"
		}
		out = append(out, s)
	}
	return out
}

func TestRotationPhases(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	bundleCh, stop := m.Subscribe()
	defer stop()

	st := m.Status()
	if st.Phase != PhaseIdle || st.Signing.Type != v1alpha1.CATypeBuiltin || len(st.Roots) != 1 || !st.Roots[0].Signs {
		t.Fatalf("initial status = %+v, want idle with the built-in root signing", st)
	}
	oldIssuer, oldBundle := sign(t, m).Issuer, m.TrustBundle()
	r.fleet.ack(oldBundle)
	r.fleet.setWorkloads(
		WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "api-1.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "gone-soon.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(30 * time.Second)},
		WorkloadCert{ID: "grpc-client", Proxyless: true},
	)
	if m.NeedsRenewal(true, oldIssuer) {
		t.Error("before any rotation, a workload of the signing CA is told to renew")
	}

	// (a) the new root joins the trust bundle; the old CA still signs.
	st, err := m.Rotate(t.Context(), RotateRequest{Builtin: true})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if st.Phase != PhaseTrust || st.Target == nil || st.Target.Type != v1alpha1.CATypeBuiltin {
		t.Fatalf("after Rotate, status = %+v, want phase trust with a built-in target", st)
	}
	if diff := cmp.Diff([]string{"current+signs", "incoming"}, roles(st)); diff != "" {
		t.Errorf("roots during trust (-want +got):\n%s", diff)
	}
	select {
	case <-bundleCh:
	default:
		t.Error("the trust bundle changed without a signal to subscribers")
	}
	both := m.TrustBundle()
	if certs, _ := ParseCertificates(both); len(certs) != 2 || !bytes.HasPrefix(both, oldBundle) {
		t.Fatalf("trust bundle during trust holds %d certificates, want the old root then the new one", len(certs))
	}
	if got := sign(t, m); got.Issuer != oldIssuer || !bytes.Equal(got.TrustBundlePEM, both) {
		t.Error("during trust, certificates are not signed by the old CA with the two-root bundle")
	}

	// (b) a proxy that has not applied the new bundle holds the rotation back.
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseTrust || !slices.Equal(laggingIDs(st), []string{"proxy api-1.default", "proxy web-1.default"}) {
		t.Fatalf("with no proxy updated: phase %s, lagging %v; want trust, both sidecars (not the proxyless client)", st.Phase, laggingIDs(st))
	}
	r.fleet.ack(both, "api-1.default")
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseTrust || !slices.Equal(laggingIDs(st), []string{"proxy api-1.default"}) {
		t.Fatalf("with one proxy lagging: phase %s, lagging %v; want trust, api-1.default", st.Phase, laggingIDs(st))
	}

	// (c) once every proxy trusts the new root, the new CA signs.
	r.fleet.ack(both)
	r.fleet.advance(time.Second)
	m.step(t.Context())
	st = m.Status()
	if st.Phase != PhaseReissue || st.Previous == nil || st.Target != nil {
		t.Fatalf("after every proxy applied the bundle: status %+v, want phase reissue", st)
	}
	if diff := cmp.Diff([]string{"outgoing", "current+signs"}, roles(st)); diff != "" {
		t.Errorf("roots during reissue (-want +got):\n%s", diff)
	}
	newIssued := sign(t, m)
	newIssuer := newIssued.Issuer
	if newIssuer == oldIssuer || !bytes.Equal(newIssued.TrustBundlePEM, both) {
		t.Fatal("during reissue, certificates are not signed by the new CA with the two-root bundle")
	}

	// (d) workloads of the old CA are told to renew; the rotation waits for them.
	for _, c := range []struct {
		recorded bool
		issuer   string
		want     bool
	}{{true, oldIssuer, true}, {true, newIssuer, false}, {false, "", true}} {
		if got := m.NeedsRenewal(c.recorded, c.issuer); got != c.want {
			t.Errorf("NeedsRenewal(%v, %.8s) = %v, want %v", c.recorded, c.issuer, got, c.want)
		}
	}
	r.fleet.setWorkloads(
		WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: newIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "api-1.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "gone-soon.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(30 * time.Second)},
		WorkloadCert{ID: "new.default"},
		WorkloadCert{ID: "grpc-client", Proxyless: true},
	)
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseReissue ||
		!slices.Equal(laggingIDs(st), []string{"workload api-1.default", "workload gone-soon.default", "workload new.default"}) {
		t.Fatalf("phase %s, lagging %v; want reissue waiting for the old-CA and certificate-less workloads", st.Phase, laggingIDs(st))
	}
	r.fleet.advance(time.Minute) // gone-soon's old certificate expires: no longer a reason to wait
	r.fleet.setWorkloads(
		WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: newIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "api-1.default", Recorded: true, Issuer: newIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "gone-soon.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(30 * time.Second)},
		WorkloadCert{ID: "new.default", Recorded: true, Issuer: newIssuer, NotAfter: now.Add(time.Hour)},
		WorkloadCert{ID: "grpc-client", Proxyless: true},
	)
	m.step(t.Context())

	// (e) the old root leaves the bundle; the rotation ends when every proxy applied it.
	st = m.Status()
	if st.Phase != PhaseRetire || len(st.Roots) != 1 || !st.Roots[0].Signs {
		t.Fatalf("after every workload renewed: status %+v, want retire with only the new root", st)
	}
	newOnly := m.TrustBundle()
	if bytes.Contains(newOnly, oldBundle) {
		t.Fatal("the old root is still in the trust bundle in the retire phase")
	}
	<-bundleCh
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseRetire || len(st.Lagging) != 2 {
		t.Fatalf("proxies still on the old bundle: phase %s, lagging %v; want retire waiting for both", st.Phase, laggingIDs(st))
	}
	r.fleet.ack(newOnly)
	m.step(t.Context())
	st = m.Status()
	if st.Phase != PhaseIdle || st.Previous != nil || len(st.Lagging) != 0 || len(st.Roots) != 1 {
		t.Fatalf("after every proxy applied the new bundle: status %+v, want idle", st)
	}
	if len(r.fleet.recorded) != 1 || r.fleet.recorded[0].Type != v1alpha1.CATypeBuiltin {
		t.Errorf("the Mesh's spec.ca was recorded %v, want once as builtin", r.fleet.recorded)
	}
	if _, err := os.Stat(filepath.Join(r.dir, RootCertFile)); err != nil {
		t.Errorf("the first built-in root (weftd's serving CA) was removed: %v", err)
	}
	if got := sign(t, m); got.Issuer != newIssuer || !bytes.Equal(got.TrustBundlePEM, newOnly) {
		t.Error("after the rotation, certificates are not signed by the new CA with its bundle alone")
	}
}

func TestRotationResumesAfterRestart(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	oldIssuer := sign(t, m).Issuer
	if _, err := m.Rotate(t.Context(), RotateRequest{Builtin: true}); err != nil {
		t.Fatal(err)
	}
	both := m.TrustBundle()

	// Restart in the trust phase: same bundle, the old CA still signs, the wait goes on.
	m = r.manager(t)
	if st := m.Status(); st.Phase != PhaseTrust || !bytes.Equal(m.TrustBundle(), both) || sign(t, m).Issuer != oldIssuer {
		t.Fatalf("after a restart in trust: phase %s; want trust, same bundle, old CA signing", st.Phase)
	}
	r.fleet.ack(both)
	m.step(t.Context())
	newIssuer := sign(t, m).Issuer
	if newIssuer == oldIssuer {
		t.Fatal("the new CA does not sign after the trust phase")
	}

	// Restart in the reissue phase: the new CA signs, the bundle still has both roots.
	r.fleet.setWorkloads(WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: oldIssuer, NotAfter: now.Add(time.Hour)})
	m = r.manager(t)
	if st := m.Status(); st.Phase != PhaseReissue || !bytes.Equal(m.TrustBundle(), both) || sign(t, m).Issuer != newIssuer {
		t.Fatalf("after a restart in reissue: phase %s; want reissue, both roots, the new CA signing", st.Phase)
	}
	if !m.NeedsRenewal(true, oldIssuer) {
		t.Error("after a restart, a workload of the old CA is not told to renew")
	}
	r.fleet.setWorkloads(WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: newIssuer, NotAfter: now.Add(time.Hour)})
	m.step(t.Context())
	newOnly := m.TrustBundle()

	// Restart in the retire phase.
	m = r.manager(t)
	if st := m.Status(); st.Phase != PhaseRetire || !bytes.Equal(m.TrustBundle(), newOnly) {
		t.Fatalf("after a restart in retire: phase %s; want retire with the new root only", st.Phase)
	}
	r.fleet.ack(newOnly)
	m.step(t.Context())
	m = r.manager(t)
	if st := m.Status(); st.Phase != PhaseIdle || sign(t, m).Issuer != newIssuer || !bytes.Equal(m.TrustBundle(), newOnly) {
		t.Fatalf("after a restart once done: phase %s; want idle with the new CA", st.Phase)
	}
}

func TestRotateToFilesAndBackToBuiltin(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	p := newPKI(t)
	st, err := m.Rotate(t.Context(), RotateRequest{Files: filesOf(p.config())})
	if err != nil {
		t.Fatalf("Rotate to files: %v", err)
	}
	if st.Target == nil || st.Target.Type != v1alpha1.CATypeFiles {
		t.Fatalf("target = %+v, want files", st.Target)
	}
	if err := m.CheckMeshCA(&v1alpha1.CASpec{Type: v1alpha1.CATypeFiles, Files: filesOf(p.config())}); err != nil {
		t.Errorf("during the rotation, applying the target CA is refused: %v", err)
	}
	r.fleet.ack(m.TrustBundle())
	m.step(t.Context())
	issued := sign(t, m)
	if chain, _ := ParseCertificates(issued.ChainPEM); len(chain) != 3 || issued.Issuer != Fingerprint(p.issuing.cert) {
		t.Fatalf("after trust, the leaf chain has %d certificates (issuer %.11s), want leaf + issuing + policy CA", len(chain), issued.Issuer)
	}
	r.fleet.setWorkloads(WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: issued.Issuer, NotAfter: now.Add(time.Hour)})
	m.step(t.Context())
	r.fleet.ack(m.TrustBundle())
	m.step(t.Context())
	st = m.Status()
	if st.Phase != PhaseIdle || st.Signing.Type != v1alpha1.CATypeFiles || st.Issuer.Fingerprint != Fingerprint(p.issuing.cert) {
		t.Fatalf("status = %+v, want idle with the files CA signing", st)
	}
	if diff := cmp.Diff([]*v1alpha1.CASpec{{Type: v1alpha1.CATypeFiles, Files: filesOf(p.config())}}, r.fleet.recorded); diff != "" {
		t.Errorf("recorded spec.ca (-want +got):\n%s", diff)
	}
	if !bytes.Equal(m.TrustBundle(), encodeCert(p.root.cert.Raw)) {
		t.Error("the trust bundle is not the organisation's root alone")
	}

	// Back to a new built-in root, then to another: the retired rotated root is removed.
	rotateThrough := func() Status {
		t.Helper()
		if _, err := m.Rotate(t.Context(), RotateRequest{Builtin: true}); err != nil {
			t.Fatal(err)
		}
		r.fleet.ack(m.TrustBundle())
		m.step(t.Context())
		r.fleet.setWorkloads(WorkloadCert{ID: "web-1.default", Recorded: true, Issuer: sign(t, m).Issuer, NotAfter: now.Add(time.Hour)})
		m.step(t.Context())
		r.fleet.ack(m.TrustBundle())
		m.step(t.Context())
		return m.Status()
	}
	first := rotateThrough()
	if first.Phase != PhaseIdle || first.Signing.Type != v1alpha1.CATypeBuiltin || filepath.Dir(first.Signing.Dir) != filepath.Join(r.dir, RootsDir) {
		t.Fatalf("status = %+v, want idle with a new built-in root under %s", first, RootsDir)
	}
	r.fleet.advance(time.Second) // a new directory name
	second := rotateThrough()
	if second.Phase != PhaseIdle || second.Signing.Dir == first.Signing.Dir {
		t.Fatalf("second rotation: status %+v", second)
	}
	if _, err := os.Stat(first.Signing.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the retired built-in root %s is still on disk (err %v)", first.Signing.Dir, err)
	}
}

func TestRotateRefuses(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	p := newPKI(t)
	if err := os.Chmod(p.keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := m.Rotate(t.Context(), RotateRequest{Files: filesOf(p.config())})
	if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), p.keyFile) {
		t.Errorf("Rotate to a CA with an open key = %v, want ErrInvalidCA naming %s", err, p.keyFile)
	}
	if _, err := m.Rotate(t.Context(), RotateRequest{}); !errors.Is(err, ErrInvalidCA) {
		t.Errorf("Rotate to nothing = %v, want ErrInvalidCA", err)
	}
	if st := m.Status(); st.Phase != PhaseIdle {
		t.Fatalf("a refused rotation left phase %s", st.Phase)
	}

	r.state.fail = errors.New("disk full")
	if _, err := m.Rotate(t.Context(), RotateRequest{Builtin: true}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Rotate with a failing store = %v, want the store's error", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(r.dir, RootsDir)); len(entries) != 0 {
		t.Errorf("a rotation that did not start left %d new roots behind", len(entries))
	}
	r.state.fail = nil

	if _, err := m.Rotate(t.Context(), RotateRequest{Builtin: true}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Rotate(t.Context(), RotateRequest{Builtin: true})
	if !errors.Is(err, ErrRotationInProgress) || !strings.Contains(err.Error(), "weft ca status") {
		t.Errorf("a second Rotate = %v, want ErrRotationInProgress pointing to weft ca status", err)
	}
}

func TestRecordingTheMeshFailsThenSucceeds(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	if _, err := m.Rotate(t.Context(), RotateRequest{Builtin: true}); err != nil {
		t.Fatal(err)
	}
	r.fleet.ack(m.TrustBundle())
	m.step(t.Context())
	m.step(t.Context()) // no workloads: straight to retire
	r.fleet.ack(m.TrustBundle())
	r.fleet.recordErr = errors.New("store closed")
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseRetire || !strings.Contains(st.Error, "store closed") {
		t.Fatalf("phase %s, error %q; want retire with the error", st.Phase, st.Error)
	}
	r.fleet.recordErr = nil
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseIdle || st.Error != "" {
		t.Fatalf("phase %s, error %q; want idle and no error", st.Phase, st.Error)
	}
}

func TestCheckMeshCA(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	p := newPKI(t)
	tests := []struct {
		name string
		spec *v1alpha1.CASpec
		ok   bool
	}{
		{"left out", nil, true},
		{"builtin", &v1alpha1.CASpec{Type: v1alpha1.CATypeBuiltin}, true},
		{"type empty", &v1alpha1.CASpec{}, true},
		{"files", &v1alpha1.CASpec{Type: v1alpha1.CATypeFiles, Files: filesOf(p.config())}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.CheckMeshCA(tt.spec)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckMeshCA = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "weft ca rotate") {
				t.Errorf("the refusal does not point to weft ca rotate: %v", err)
			}
		})
	}
}

func TestAMissingRotatedRootIsNotRecreated(t *testing.T) {
	r := newRig(t)
	m := r.manager(t)
	st, err := m.Rotate(t.Context(), RotateRequest{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(st.Target.Dir); err != nil {
		t.Fatal(err)
	}
	// A restart in the trust phase keeps the old CA signing and reports the missing root.
	m = r.manager(t)
	r.fleet.ack(m.TrustBundle())
	m.step(t.Context())
	if st := m.Status(); st.Phase != PhaseTrust || !strings.Contains(st.Error, "is missing") {
		t.Fatalf("phase %s, error %q; want trust, blocked on the missing root", st.Phase, st.Error)
	}
	if _, err := os.Stat(st.Target.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing rotated root was made again in %s", st.Target.Dir)
	}
}
