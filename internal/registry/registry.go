// Package registry keeps the workloads of local mode: each is registered by its proxy under a
// lease that the proxy renews, and leaves the registry when it deregisters or stops renewing.
// Registrations are persisted in bbolt so that a weftd restart keeps them.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/store"
	"github.com/weftmesh/weft/internal/wire"
)

// ErrNotFound is returned (wrapped in a *NotFoundError) for a workload that is not registered.
var ErrNotFound = errors.New("workload not registered")

// NotFoundError names the workload that is not registered.
type NotFoundError struct {
	ID string
	// Expired is true when the workload's lease ran out.
	Expired bool
}

func (e *NotFoundError) Error() string {
	if e.Expired {
		return fmt.Sprintf("workload %s: lease expired; register again", e.ID)
	}
	return fmt.Sprintf("workload %s is not registered", e.ID)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrInvalid marks a registration that was refused because it is malformed.
var ErrInvalid = errors.New("invalid workload")

// DefaultTTL is the lease duration when the Config does not set one.
const DefaultTTL = 20 * time.Second

// Config configures the registry.
type Config struct {
	// TTL is the lease duration: a workload that is not renewed within it leaves the registry.
	TTL time.Duration
	// SweepInterval is how often Run removes expired workloads (default TTL/4).
	SweepInterval time.Duration
	// TrustDomain returns the mesh's current trust domain, used to derive SPIFFE IDs
	// (default: always v1alpha1.DefaultTrustDomain).
	TrustDomain func() string
	// Now returns the current time (default time.Now); tests inject a clock.
	Now func() time.Time
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.TTL < 0 {
		return fmt.Errorf("registry: lease TTL %v is negative", c.TTL)
	}
	if c.SweepInterval < 0 {
		return fmt.Errorf("registry: sweep interval %v is negative", c.SweepInterval)
	}
	return nil
}

var workloadsBucket = []byte("workloads")

// Registry is the set of registered workloads. It is safe for concurrent use.
type Registry struct {
	cfg      Config
	db       *bolt.DB
	log      *slog.Logger
	notifier store.Notifier

	mu        sync.Mutex
	workloads map[string]*wire.Workload
	// certs records the certificate last issued to each workload (certs.go).
	certs    map[string]CertInfo
	revision uint64
}

// Open loads the registrations persisted in db (in the bucket "workloads") and returns the
// registry. Every loaded lease is extended to at least now + TTL, so that proxies have the
// time to reconnect to a restarted weftd and renew.
func Open(cfg Config, db *bolt.DB, log *slog.Logger) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, errors.New("registry: a database is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = cfg.TTL / 4
	}
	if cfg.TrustDomain == nil {
		cfg.TrustDomain = func() string { return v1alpha1.DefaultTrustDomain }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{cfg: cfg, db: db, log: log, workloads: map[string]*wire.Workload{}, certs: map[string]CertInfo{}}
	minExpiry := cfg.Now().Add(cfg.TTL)
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(workloadsBucket)
		if err != nil {
			return fmt.Errorf("creating bucket %s: %w", workloadsBucket, err)
		}
		err = b.ForEach(func(k, v []byte) error {
			w, err := decodeWorkload(v)
			if err != nil {
				return fmt.Errorf("reading stored workload %s: %w", k, err)
			}
			if w.LeaseExpiry.Before(minExpiry) {
				w.LeaseExpiry = minExpiry
			}
			r.workloads[w.ID] = w
			return nil
		})
		if err != nil {
			return err
		}
		return r.loadCerts(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("loading workloads: %w", err)
	}
	log.Debug("registry loaded", "workloads", len(r.workloads))
	return r, nil
}

// TTL is the lease duration.
func (r *Registry) TTL() time.Duration { return r.cfg.TTL }

// Subscribe returns a channel signalled (coalesced) after each change of the set of workloads
// or of a registration; lease renewals are not changes. The function ends the subscription.
func (r *Registry) Subscribe() (<-chan struct{}, func()) { return r.notifier.Subscribe() }

// Revision increases on every change signalled to subscribers.
func (r *Registry) Revision() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revision
}

// Register adds or replaces a workload. It validates the registration, sets its SPIFFE ID
// from the trust domain and its lease expiry, and returns the registration as kept. Errors
// for a malformed registration wrap ErrInvalid.
func (r *Registry) Register(in wire.Workload) (wire.Workload, error) {
	if err := validate(&in); err != nil {
		return wire.Workload{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	w := clone(&in)
	w.SPIFFEID = wire.SPIFFEID(r.cfg.TrustDomain(), w.Namespace, w.ServiceAccount)
	w.CertExpiry = nil

	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	w.LeaseExpiry = now.Add(r.cfg.TTL)
	old, existed := r.workloads[w.ID]
	if existed && old.SPIFFEID == w.SPIFFEID {
		w.CertExpiry = old.CertExpiry
	}
	changed := !existed || !sameRegistration(old, w)
	if changed {
		if err := r.persist(w); err != nil {
			return wire.Workload{}, err
		}
	}
	if _, recorded := r.certs[w.ID]; recorded && w.CertExpiry == nil {
		// Another identity: the recorded certificate is not this registration's.
		if err := r.db.Update(func(tx *bolt.Tx) error { return r.forgetCertLocked(tx, w.ID) }); err != nil {
			return wire.Workload{}, err
		}
	}
	r.workloads[w.ID] = w
	if changed {
		r.changedLocked()
		r.log.Info("workload registered", "id", w.ID, "service", w.Service, "namespace", w.Namespace, "address", w.Address)
	}
	return *clone(w), nil
}

// Renew extends a workload's lease to now + TTL. A workload whose lease already ran out is
// removed and a *NotFoundError with Expired set is returned: its proxy must register again.
func (r *Registry) Renew(id string) (wire.Workload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workloads[id]
	if !ok {
		return wire.Workload{}, &NotFoundError{ID: id}
	}
	now := r.cfg.Now()
	if !now.Before(w.LeaseExpiry) {
		if err := r.removeLocked(id); err != nil {
			return wire.Workload{}, err
		}
		r.changedLocked()
		r.log.Info("workload lease expired", "id", id)
		return wire.Workload{}, &NotFoundError{ID: id, Expired: true}
	}
	w.LeaseExpiry = now.Add(r.cfg.TTL)
	return *clone(w), nil
}

// Deregister removes a workload.
func (r *Registry) Deregister(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.workloads[id]; !ok {
		return &NotFoundError{ID: id}
	}
	if err := r.removeLocked(id); err != nil {
		return err
	}
	r.changedLocked()
	r.log.Info("workload deregistered", "id", id)
	return nil
}

// Get returns one live workload. Its SPIFFE ID follows the current trust domain.
func (r *Registry) Get(id string) (wire.Workload, error) {
	td := r.cfg.TrustDomain()
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workloads[id]
	if !ok || !r.cfg.Now().Before(w.LeaseExpiry) {
		return wire.Workload{}, &NotFoundError{ID: id}
	}
	c := clone(w)
	c.SPIFFEID = wire.SPIFFEID(td, c.Namespace, c.ServiceAccount)
	return *c, nil
}

// List returns the live workloads (copies), sorted by ID. Their SPIFFE IDs follow the current
// trust domain.
func (r *Registry) List() []wire.Workload {
	td := r.cfg.TrustDomain()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	out := make([]wire.Workload, 0, len(r.workloads))
	for _, id := range slices.Sorted(maps.Keys(r.workloads)) {
		if w := r.workloads[id]; now.Before(w.LeaseExpiry) {
			c := clone(w)
			c.SPIFFEID = wire.SPIFFEID(td, c.Namespace, c.ServiceAccount)
			out = append(out, *c)
		}
	}
	return out
}

// Sweep removes the workloads whose lease ran out and returns their IDs.
func (r *Registry) Sweep() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	var expired []string
	for id, w := range r.workloads {
		if !now.Before(w.LeaseExpiry) {
			expired = append(expired, id)
		}
	}
	if len(expired) == 0 {
		return nil, nil
	}
	slices.Sort(expired)
	err := r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(workloadsBucket)
		for _, id := range expired {
			if err := b.Delete([]byte(id)); err != nil {
				return fmt.Errorf("deleting workload %s: %w", id, err)
			}
			if err := r.forgetCertLocked(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("removing expired workloads: %w", err)
	}
	for _, id := range expired {
		delete(r.workloads, id)
		r.log.Info("workload lease expired", "id", id)
	}
	r.changedLocked()
	return expired, nil
}

// Run removes expired workloads every SweepInterval until ctx is done.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.Sweep(); err != nil {
				r.log.Error("sweeping expired workloads", "error", err)
			}
		}
	}
}

func (r *Registry) changedLocked() {
	r.revision++
	r.notifier.Notify()
}

func (r *Registry) persist(w *wire.Workload) error {
	raw, err := encodeWorkload(w)
	if err != nil {
		return err
	}
	err = r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(workloadsBucket).Put([]byte(w.ID), raw)
	})
	if err != nil {
		return fmt.Errorf("saving workload %s: %w", w.ID, err)
	}
	return nil
}

func (r *Registry) removeLocked(id string) error {
	err := r.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(workloadsBucket).Delete([]byte(id)); err != nil {
			return err
		}
		return r.forgetCertLocked(tx, id)
	})
	if err != nil {
		return fmt.Errorf("deleting workload %s: %w", id, err)
	}
	delete(r.workloads, id)
	return nil
}

// sameRegistration compares two registrations, ignoring the lease and certificate expiry.
func sameRegistration(a, b *wire.Workload) bool {
	x, y := *a, *b
	x.LeaseExpiry, y.LeaseExpiry = time.Time{}, time.Time{}
	x.CertExpiry, y.CertExpiry = nil, nil
	return reflect.DeepEqual(normalize(x), normalize(y))
}

func normalize(w wire.Workload) wire.Workload {
	if len(w.Labels) == 0 {
		w.Labels = nil
	}
	if len(w.Ports) == 0 {
		w.Ports = nil
	}
	if len(w.DedicatedInbound) == 0 {
		w.DedicatedInbound = nil
	}
	return w
}

// validate checks a registration: the contract's checks, and that the names make a valid
// SPIFFE ID and the address is an IP.
func validate(w *wire.Workload) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := validateID(w.ID); err != nil {
		return err
	}
	if msg := mesh.ValidateDNSLabel(w.Service); msg != "" {
		return fmt.Errorf("workload %s: service %s", w.ID, msg)
	}
	if msg := mesh.ValidateDNSLabel(w.Namespace); msg != "" {
		return fmt.Errorf("workload %s: namespace %s", w.ID, msg)
	}
	if err := mesh.ValidateServiceAccount(w.ServiceAccount); err != nil {
		return fmt.Errorf("workload %s: %w", w.ID, err)
	}
	if _, err := netip.ParseAddr(w.Address); err != nil {
		return fmt.Errorf("workload %s: address %q is not an IP address", w.ID, w.Address)
	}
	if w.AdminAddress != "" {
		if _, err := netip.ParseAddrPort(w.AdminAddress); err != nil {
			return fmt.Errorf("workload %s: adminAddress %q is not an IP:port", w.ID, w.AdminAddress)
		}
	}
	return nil
}

// validateID accepts IDs of at most 253 letters, digits, '.', '-', '_' and ':' (an ID appears
// in API paths and is the xDS node ID).
func validateID(id string) error {
	if len(id) > 253 {
		return fmt.Errorf("workload id %q is longer than 253 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return fmt.Errorf("workload id %q: character %q is not allowed (letters, digits, '.', '-', '_', ':')", id, c)
		}
	}
	return nil
}

func clone(w *wire.Workload) *wire.Workload {
	c := *w
	c.Labels = maps.Clone(w.Labels)
	c.Ports = slices.Clone(w.Ports)
	c.DedicatedInbound = slices.Clone(w.DedicatedInbound)
	if w.CertExpiry != nil {
		t := *w.CertExpiry
		c.CertExpiry = &t
	}
	return &c
}
