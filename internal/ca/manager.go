package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/store"
)

// Defaults of ManagerConfig.
const (
	DefaultCheckInterval = time.Second
	// lagWarnAfter: a phase that waits longer than this is logged at warn with who lags.
	lagWarnAfter = 2 * time.Minute
	// maxLagging bounds the laggards kept for the status.
	maxLagging = 100
)

// RootsDir is the directory, under the CA directory, of the built-in roots that
// `weft ca rotate --builtin` creates (one sub-directory each).
const RootsDir = "roots"

// ProxyTrust is what the xDS server knows of one connected proxy's trust bundle.
type ProxyTrust struct {
	NodeID string
	// UsesBundle is false when the proxy's configuration holds no trust bundle (it verifies
	// no peer): such a proxy is not waited for.
	UsesBundle bool
	// Acked is the PEM trust bundle of the configuration the proxy last acknowledged, nil
	// before its first acknowledgement.
	Acked []byte
}

// WorkloadCert is what the registry knows of a registered workload's last certificate.
type WorkloadCert struct {
	ID string
	// Proxyless workloads get no certificate from weftd; they are not waited for.
	Proxyless bool
	// Recorded is false when weftd issued the workload no certificate since it registered.
	Recorded bool
	// Issuer is the Fingerprint of the CA certificate that signed it.
	Issuer   string
	NotAfter time.Time
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Dir is the CA directory (<data-dir>/ca): the built-in root weftd starts with, and
	// RootsDir for the built-in roots rotations create.
	Dir string
	// State persists the CA state (required).
	State StateStore
	// Proxies lists the connected proxies and the trust bundle each last applied (required).
	Proxies func() []ProxyTrust
	// Workloads lists the registered workloads and their last certificate (required).
	Workloads func() []WorkloadCert
	// RecordMeshCA, when set, records the new CA in the stored Mesh's spec.ca when a
	// rotation ends.
	RecordMeshCA func(ctx context.Context, spec *v1alpha1.CASpec) error
	// LeafTTL is the default lifetime of workload certificates (default DefaultLeafTTL).
	LeafTTL time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Interval is how often Run checks a rotation's progress (default DefaultCheckInterval).
	Interval time.Duration
}

// Validate checks the configuration.
func (c ManagerConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("ca manager: the CA directory is required")
	case c.State == nil:
		return errors.New("ca manager: a state store is required")
	case c.Proxies == nil || c.Workloads == nil:
		return errors.New("ca manager: the proxies and workloads sources are required")
	case c.LeafTTL < 0 || c.Interval < 0:
		return errors.New("ca manager: leaf TTL and interval must not be negative")
	}
	return nil
}

// Manager is weftd's certificate authority: it signs with the CA in use and runs rotations
// from one CA to another without breaking a connection:
//
//  1. trust: the new roots join the trust bundle every proxy receives (ROOTCA); the manager
//     waits until every connected proxy has applied it;
//  2. reissue: the new CA signs; workloads whose certificate is from another CA are told to
//     renew (in their lease renewal answer); the manager waits until no registered workload
//     holds a live certificate of another CA;
//  3. retire: the old roots leave the trust bundle; the manager waits until every connected
//     proxy has applied it, records the new CA in the Mesh, and the rotation is over.
//
// The state is persisted after every step, so a restart of weftd resumes the rotation.
type Manager struct {
	cfg      ManagerConfig
	log      *slog.Logger
	open     func(Source) (Backend, error)
	notifier store.Notifier
	kick     chan struct{}
	// rotateMu serialises Rotate calls.
	rotateMu sync.Mutex

	mu     sync.RWMutex
	state  State
	signer Backend
	// issuer is the Fingerprint of signer's issuer, which every lease renewal compares
	// (NeedsRenewal).
	issuer string
	// next is the rotation's target while it does not sign yet (nil until opened).
	next Backend
	// bundle is the trust bundle's PEM; roots and pool are the same, parsed.
	bundle []byte
	roots  []*x509.Certificate
	pool   *x509.CertPool
	// lagging are who the phase waits for, lagTotal how many there were in all.
	lagging  []Laggard
	lagTotal int
	lastErr  string
	lastWarn time.Time
}

var _ Authority = (*Manager)(nil)

// Laggard is a proxy or workload a rotation phase waits for.
type Laggard struct {
	// Kind is "proxy" (an xDS node) or "workload" (a registered workload).
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Reason says what the phase waits for.
	Reason string `json:"reason"`
}

// NewManager loads the CA state (the built-in root in cfg.Dir when none was saved), opens the
// CA in use and, when a rotation was in progress, resumes it.
func NewManager(cfg ManagerConfig, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.LeafTTL == 0 {
		cfg.LeafTTL = DefaultLeafTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultCheckInterval
	}
	m := &Manager{cfg: cfg, log: log, kick: make(chan struct{}, 1)}
	m.open = func(src Source) (Backend, error) { return Open(src, cfg.LeafTTL, cfg.Now, log) }
	return m, m.load()
}

func (m *Manager) load() error {
	saved, err := m.cfg.State.Load()
	if err != nil {
		return err
	}
	if saved == nil {
		saved = &State{Active: Source{Type: v1alpha1.CATypeBuiltin, Dir: m.cfg.Dir}}
		if err := m.cfg.State.Save(*saved); err != nil {
			return err
		}
	}
	signer, err := m.openSaved(saved.Active)
	if err != nil {
		return fmt.Errorf("opening the CA in use, %s: %w", saved.Active, err)
	}
	m.state, m.signer = saved.clone(), signer
	if r := m.state.Rotation; r != nil {
		if r.Phase == PhaseTrust {
			if m.next, err = m.openSaved(r.To); err != nil {
				// Not fatal: the old CA still signs; the step retries and the status shows it.
				m.lastErr = fmt.Sprintf("opening the new CA, %s: %v", r.To, err)
				m.log.Error("CA rotation: the new CA cannot be opened; fix it, the rotation waits", "error", err)
			}
		}
		m.log.Info("resuming the CA rotation", "phase", r.Phase, "from", r.From.String(), "to", r.To.String(),
			"started", r.Started.Format(time.RFC3339))
	}
	return m.recomputeLocked()
}

// Sign issues a workload certificate with the CA that signs now; the answer carries the
// current trust bundle.
func (m *Manager) Sign(ctx context.Context, req SignRequest) (*Issued, error) {
	m.mu.RLock()
	signer, bundle := m.signer, m.bundle
	m.mu.RUnlock()
	issued, err := signer.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	issued.TrustBundlePEM = append([]byte(nil), bundle...)
	return issued, nil
}

// TrustBundle is the PEM of the roots every proxy trusts now: during a rotation, the old and
// the new CA's until the retire phase.
func (m *Manager) TrustBundle() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]byte(nil), m.bundle...)
}

// TrustPool is the trust bundle as a pool (weftd's xDS server checks proxies' certificates
// against it). It is never modified; a change of the bundle makes a new pool.
func (m *Manager) TrustPool() *x509.CertPool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.pool
}

// Subscribe returns a channel signalled after each change of the trust bundle, and a
// function that ends the subscription.
func (m *Manager) Subscribe() (<-chan struct{}, func()) { return m.notifier.Subscribe() }

// NeedsRenewal reports whether a workload must renew its certificate now: its last
// certificate was signed by a CA that no longer signs. A workload without a recorded
// certificate is told to renew only while a rotation re-issues certificates (it may hold one
// from before it registered again).
func (m *Manager) NeedsRenewal(recorded bool, issuer string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !recorded {
		r := m.state.Rotation
		return r != nil && r.Phase != PhaseTrust
	}
	return issuer != m.issuer
}

// CheckMeshCA checks an applied Mesh's spec.ca: leaving it out keeps the CA in use; naming
// another CA is refused, since changing the CA takes a rotation (`weft ca rotate`).
func (m *Manager) CheckMeshCA(spec *v1alpha1.CASpec) error {
	if spec == nil {
		return nil
	}
	m.mu.RLock()
	st := m.state.clone()
	m.mu.RUnlock()
	if st.Active.Matches(spec) || (st.Rotation != nil && (st.Rotation.To.Matches(spec) || st.Rotation.From.Matches(spec))) {
		return nil
	}
	return fmt.Errorf("the CA cannot be changed by an apply: weftd signs with the %s CA. "+
		"Run 'weft ca rotate' (--builtin, or --cert-file, --key-file, --chain-file and --root-file) "+
		"to move every proxy to a new CA without breaking connections; weftd records it here when the rotation is done. "+
		"Leave spec.ca out to keep the CA in use", st.Active)
}

// RotateRequest names the CA to rotate to: a new built-in root, or files.
type RotateRequest struct {
	Builtin bool
	Files   *v1alpha1.CAFiles
}

// ErrRotationInProgress is returned by Rotate while a rotation runs.
var ErrRotationInProgress = errors.New("a CA rotation is already in progress")

// Rotate starts a rotation to a new CA. It checks the new CA first (errors about it wrap
// ErrInvalidCA) and refuses while another rotation runs (ErrRotationInProgress).
func (m *Manager) Rotate(ctx context.Context, req RotateRequest) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, fmt.Errorf("rotating the CA: %w", err)
	}
	if req.Builtin == (req.Files != nil) {
		return Status{}, fmt.Errorf("%w: name either a new built-in root or the files of a CA", ErrInvalidCA)
	}
	m.rotateMu.Lock()
	defer m.rotateMu.Unlock()
	m.mu.RLock()
	cur, signer := m.state.clone(), m.signer
	m.mu.RUnlock()
	if r := cur.Rotation; r != nil {
		return Status{}, fmt.Errorf("%w (phase %s since %s, to %s): follow it with 'weft ca status'",
			ErrRotationInProgress, r.Phase, r.PhaseSince.UTC().Format(time.RFC3339), r.To)
	}
	src, err := m.target(req)
	if err != nil {
		return Status{}, err
	}
	backend, err := m.open(src)
	if err != nil {
		m.discard(src)
		return Status{}, err
	}
	if Fingerprint(backend.Issuer()) == Fingerprint(signer.Issuer()) {
		m.discard(src)
		return Status{}, fmt.Errorf("%w: %s is the CA that signs already", ErrInvalidCA, src)
	}
	now := m.cfg.Now()
	next := State{Active: cur.Active, Rotation: &Rotation{
		From: cur.Active, FromRoots: string(encodeCerts(signer.Roots())),
		To: src, ToRoots: string(encodeCerts(backend.Roots())),
		Phase: PhaseTrust, Started: now, PhaseSince: now,
	}}
	if err := m.cfg.State.Save(next); err != nil {
		m.discard(src)
		return Status{}, err
	}
	m.mu.Lock()
	m.state, m.next, m.lastErr = next, backend, ""
	err = m.recomputeLocked()
	m.mu.Unlock()
	if err != nil {
		return Status{}, err
	}
	m.log.Info("CA rotation started: the new roots join every proxy's trust bundle", "from", cur.Active.String(), "to", src.String())
	m.notifier.Notify()
	m.poke()
	return m.Status(), nil
}

// target is the source a rotation request names; a built-in root gets a new directory.
func (m *Manager) target(req RotateRequest) (Source, error) {
	if req.Files != nil {
		f := *req.Files
		return Source{Type: v1alpha1.CATypeFiles, Files: &f}, nil
	}
	base := filepath.Join(m.cfg.Dir, RootsDir, m.cfg.Now().UTC().Format("20060102T150405Z"))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return Source{}, fmt.Errorf("choosing a directory for the new root: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	return Source{Type: v1alpha1.CATypeBuiltin, Dir: dir}, nil
}

// openSaved opens a CA named in the saved state. A built-in root that a rotation created
// must still be there: making a new one in its place would change the mesh's identity
// without a rotation. (The first root, in Dir, is created at first start, as weftd always did.)
func (m *Manager) openSaved(src Source) (Backend, error) {
	if src.Type == v1alpha1.CATypeBuiltin && filepath.Clean(src.Dir) != filepath.Clean(m.cfg.Dir) {
		for _, name := range []string{RootCertFile, RootKeyFile} {
			if _, err := os.Stat(filepath.Join(src.Dir, name)); err != nil {
				return nil, fmt.Errorf("%w: the built-in root %s is missing (%v): restore it from a backup of the data directory",
					ErrInvalidCA, src.Dir, err)
			}
		}
	}
	return m.open(src)
}

// discard removes a built-in root made for a rotation that did not start or is over.
func (m *Manager) discard(src Source) {
	if src.Type != v1alpha1.CATypeBuiltin || filepath.Dir(src.Dir) != filepath.Join(m.cfg.Dir, RootsDir) {
		return // never the root weftd started with (it signs weftd's serving certificate)
	}
	if err := os.RemoveAll(src.Dir); err != nil {
		m.log.Warn("removing a built-in root that is not used any more", "dir", src.Dir, "error", err)
	}
}

// Run checks the progress of a rotation every Interval (and at once after Rotate) until ctx
// is done.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
		m.step(ctx)
	}
}

func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// recomputeLocked rebuilds the trust bundle from the state, and the signer's issuer
// fingerprint.
func (m *Manager) recomputeLocked() error {
	m.issuer = Fingerprint(m.signer.Issuer())
	var roots []*x509.Certificate
	r := m.state.Rotation
	switch {
	case r == nil:
		roots = m.signer.Roots()
	case r.Phase == PhaseRetire:
		to, err := ParseCertificates([]byte(r.ToRoots))
		if err != nil {
			return fmt.Errorf("the saved roots of the new CA: %w", err)
		}
		roots = to
	default:
		from, err := ParseCertificates([]byte(r.FromRoots))
		if err != nil {
			return fmt.Errorf("the saved roots of the old CA: %w", err)
		}
		to, err := ParseCertificates([]byte(r.ToRoots))
		if err != nil {
			return fmt.Errorf("the saved roots of the new CA: %w", err)
		}
		roots = union(from, to)
	}
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	m.roots, m.bundle, m.pool = roots, encodeCerts(roots), pool
	return nil
}

// union is a then the certificates of b not in a.
func union(a, b []*x509.Certificate) []*x509.Certificate {
	out := append([]*x509.Certificate(nil), a...)
	seen := fingerprintSet(a)
	for _, c := range b {
		if !seen[Fingerprint(c)] {
			out = append(out, c)
			seen[Fingerprint(c)] = true
		}
	}
	return out
}

func fingerprintSet(certs []*x509.Certificate) map[string]bool {
	out := make(map[string]bool, len(certs))
	for _, c := range certs {
		out[Fingerprint(c)] = true
	}
	return out
}

// pemFingerprints is the set of fingerprints of a PEM text's certificates (empty if it does
// not parse).
func pemFingerprints(data string) map[string]bool {
	certs, _ := ParseCertificates([]byte(data))
	return fingerprintSet(certs)
}
