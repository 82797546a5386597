package registry

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/weftmesh/weft/internal/testclock"
	"github.com/weftmesh/weft/internal/wire"
)

const ttl = 20 * time.Second

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openRegistry(t *testing.T, db *bolt.DB, clk *testclock.Clock) *Registry {
	t.Helper()
	r, err := Open(Config{TTL: ttl, Now: clk.Now, TrustDomain: func() string { return "example.org" }}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newRegistry(t *testing.T) (*Registry, *testclock.Clock) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "store.db"))
	t.Cleanup(func() { _ = db.Close() })
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return openRegistry(t, db, clk), clk
}

func workload(id string) wire.Workload {
	return wire.Workload{
		ID: id, Service: "backend", Namespace: "shop", ServiceAccount: "backend-sa",
		Address: "127.0.0.1", InboundPort: 15006, Ports: []int32{8080}, Labels: map[string]string{"version": "v1"},
	}
}

func ids(ws []wire.Workload) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

// signalled reports whether ch holds a notification, consuming it.
func signalled(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestRegisterValidates(t *testing.T) {
	r, _ := newRegistry(t)
	tests := []struct {
		name    string
		mutate  func(*wire.Workload)
		wantErr string
	}{
		{"no id", func(w *wire.Workload) { w.ID = "" }, "invalid workload: workload: id is required"},
		{"id with a slash", func(w *wire.Workload) { w.ID = "a/b" }, `workload id "a/b": character '/' is not allowed`},
		{"no service", func(w *wire.Workload) { w.Service = "" }, "workload w1: service is required"},
		{"service not a label", func(w *wire.Workload) { w.Service = "Backend" }, `workload w1: service "Backend" is not a DNS label`},
		{"namespace not a label", func(w *wire.Workload) { w.Namespace = "shop.eu" }, `workload w1: namespace "shop.eu" is not a DNS label`},
		{"bad service account", func(w *wire.Workload) { w.ServiceAccount = "a b" }, `workload w1: service account: segment "a b": character ' ' is not allowed`},
		{"address not an IP", func(w *wire.Workload) { w.Address = "localhost" }, `workload w1: address "localhost" is not an IP address`},
		{"bad inbound port", func(w *wire.Workload) { w.InboundPort = 0 }, "workload w1: inboundPort 0 is out of range 1-65535"},
		{"bad service port", func(w *wire.Workload) { w.Ports = []int32{70000} }, "workload w1: port 70000 is out of range 1-65535"},
		{"bad admin address", func(w *wire.Workload) { w.AdminAddress = "localhost:15000" }, `workload w1: adminAddress "localhost:15000" is not an IP:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := workload("w1")
			tt.mutate(&w)
			_, err := r.Register(w)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Register() = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
	if len(r.List()) != 0 {
		t.Errorf("refused registrations were kept: %v", ids(r.List()))
	}
}

func TestLeaseLifecycle(t *testing.T) {
	r, clk := newRegistry(t)
	ch, unsubscribe := r.Subscribe()
	defer unsubscribe()

	got, err := r.Register(workload("w1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.SPIFFEID != "spiffe://example.org/ns/shop/sa/backend-sa" || !got.LeaseExpiry.Equal(clk.Now().Add(ttl)) {
		t.Errorf("registered = %+v, want the SPIFFE ID of example.org and a lease to now+%v", got, ttl)
	}
	if !signalled(ch) {
		t.Error("a registration was not signalled")
	}

	// Renewals extend the lease and are not changes.
	clk.Advance(15 * time.Second)
	renewed, err := r.Renew("w1")
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.LeaseExpiry.Equal(clk.Now().Add(ttl)) {
		t.Errorf("renewed lease ends %v, want %v", renewed.LeaseExpiry, clk.Now().Add(ttl))
	}
	clk.Advance(15 * time.Second) // 30s after registering: alive thanks to the renewal
	if diff := cmp.Diff([]string{"w1"}, ids(r.List())); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if signalled(ch) {
		t.Error("a renewal was signalled as a change")
	}

	// Re-registering the same workload is not a change; a different one is.
	if _, err := r.Register(workload("w1")); err != nil {
		t.Fatal(err)
	}
	if signalled(ch) {
		t.Error("an identical re-registration was signalled")
	}
	changed := workload("w1")
	changed.Address = "127.0.0.2"
	if _, err := r.Register(changed); err != nil {
		t.Fatal(err)
	}
	if !signalled(ch) {
		t.Error("a changed re-registration was not signalled")
	}

	// Without renewals, the lease runs out: hidden at once, removed by Sweep.
	clk.Advance(ttl)
	if len(r.List()) != 0 {
		t.Errorf("an expired workload is listed: %v", ids(r.List()))
	}
	if _, err := r.Get("w1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an expired workload = %v", err)
	}
	expired, err := r.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"w1"}, expired); diff != "" {
		t.Errorf("Sweep (-want +got):\n%s", diff)
	}
	if !signalled(ch) {
		t.Error("an expiry was not signalled")
	}
	if _, err := r.Renew("w1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Renew after expiry = %v, want not found", err)
	}
}

func TestRenewAfterExpiryBeforeSweep(t *testing.T) {
	r, clk := newRegistry(t)
	if _, err := r.Register(workload("w1")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl)
	_, err := r.Renew("w1")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !nf.Expired || err.Error() != "workload w1: lease expired; register again" {
		t.Fatalf("Renew of an expired lease = %v, want an expired NotFoundError", err)
	}
	if _, err := r.Sweep(); err != nil {
		t.Fatal(err)
	}
	if r.Revision() != 2 {
		t.Errorf("revision = %d, want 2 (register, expiry)", r.Revision())
	}
}

func TestSPIFFEIDFollowsTheTrustDomain(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "store.db"))
	defer db.Close()
	td := "weft.local"
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r, err := Open(Config{TTL: ttl, Now: clk.Now, TrustDomain: func() string { return td }}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(workload("w1")); err != nil {
		t.Fatal(err)
	}
	td = "example.org" // the Mesh changed
	got, err := r.Get("w1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://example.org/ns/shop/sa/backend-sa"; got.SPIFFEID != want || r.List()[0].SPIFFEID != want {
		t.Errorf("SPIFFE ID = %q (Get), %q (List); want %q", got.SPIFFEID, r.List()[0].SPIFFEID, want)
	}
}

func TestDeregister(t *testing.T) {
	r, _ := newRegistry(t)
	for _, id := range []string{"b", "a", "c"} {
		if _, err := r.Register(workload(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Deregister("b"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "c"}, ids(r.List())); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := r.Deregister("b"); !errors.Is(err, ErrNotFound) || err.Error() != "workload b is not registered" {
		t.Errorf("second Deregister = %v", err)
	}
}

func TestListReturnsCopies(t *testing.T) {
	r, _ := newRegistry(t)
	if _, err := r.Register(workload("w1")); err != nil {
		t.Fatal(err)
	}
	r.List()[0].Labels["version"] = "changed"
	if got := r.List()[0].Labels["version"]; got != "v1" {
		t.Errorf("a caller changed the registry through List: version = %q", got)
	}
}

// TestDedicatedInboundIsCopied checks that the registry keeps its own DedicatedInbound: a
// caller's slice, before or after Register, and a listed one do not change it. An empty list
// is the same registration as none.
func TestDedicatedInboundIsCopied(t *testing.T) {
	r, _ := newRegistry(t)
	ch, unsubscribe := r.Subscribe()
	defer unsubscribe()
	w := workload("w1")
	w.DedicatedInbound = []wire.DedicatedInbound{{Port: 8080, InboundPort: 15007}}
	if _, err := r.Register(w); err != nil {
		t.Fatal(err)
	}
	signalled(ch)
	w.DedicatedInbound[0].InboundPort = 15008
	r.List()[0].DedicatedInbound[0].InboundPort = 15009
	if got := r.List()[0].DedicatedInbound[0].InboundPort; got != 15007 {
		t.Errorf("a caller changed the registry's dedicated inbound port: %d, want 15007", got)
	}

	none := workload("w2")
	if _, err := r.Register(none); err != nil {
		t.Fatal(err)
	}
	signalled(ch)
	none.DedicatedInbound = []wire.DedicatedInbound{}
	if _, err := r.Register(none); err != nil {
		t.Fatal(err)
	}
	if signalled(ch) {
		t.Error("re-registering with an empty dedicatedInbound instead of none was signalled as a change")
	}
}

func TestRestartKeepsRegistrationsUnderLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db := openDB(t, path)
	r := openRegistry(t, db, clk)
	for _, id := range []string{"w1", "w2", "gone"} {
		if _, err := r.Register(workload(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Deregister("gone"); err != nil {
		t.Fatal(err)
	}
	expiry := clk.Now().Add(24 * time.Hour).Truncate(time.Second)
	if err := r.RecordCertificate("w1", CertInfo{SerialNumber: "1f", Issuer: "AB:CD", NotAfter: expiry}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// weftd was down for an hour: every lease ran out meanwhile.
	clk.Advance(time.Hour)
	db = openDB(t, path)
	defer db.Close()
	r = openRegistry(t, db, clk)
	got := r.List()
	if diff := cmp.Diff([]string{"w1", "w2"}, ids(got)); diff != "" {
		t.Fatalf("after restart (-want +got):\n%s", diff)
	}
	for _, w := range got {
		if !w.LeaseExpiry.Equal(clk.Now().Add(ttl)) {
			t.Errorf("%s: lease ends %v, want it extended to %v", w.ID, w.LeaseExpiry, clk.Now().Add(ttl))
		}
	}
	if got[0].CertExpiry == nil || !got[0].CertExpiry.Equal(expiry) {
		t.Errorf("w1 cert expiry = %v, want %v", got[0].CertExpiry, expiry)
	}
	if c, ok := r.Certificate("w1"); !ok || c.Issuer != "AB:CD" || c.SerialNumber != "1f" || !c.NotAfter.Equal(expiry) {
		t.Errorf("w1 certificate record after restart = %+v (found %v), want issuer AB:CD, serial 1f", c, ok)
	}

	// The extension is not forever: proxies that do not come back leave.
	clk.Advance(ttl / 2)
	if _, err := r.Renew("w1"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl / 2)
	expired, err := r.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"w2"}, expired); diff != "" {
		t.Errorf("expired after restart (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{TTL: -time.Second}).Validate(); err == nil || err.Error() != "registry: lease TTL -1s is negative" {
		t.Errorf("negative TTL: %v", err)
	}
	if _, err := Open(Config{}, nil, nil); err == nil {
		t.Error("Open without a database succeeded")
	}
}
