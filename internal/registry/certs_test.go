package registry

import (
	"errors"
	"testing"
	"time"
)

func TestCertificateRecords(t *testing.T) {
	r, clk := newRegistry(t)
	for _, id := range []string{"keep", "leaves", "expires", "renamed"} {
		if _, err := r.Register(workload(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := r.Certificate("keep"); ok {
		t.Fatal("a workload has a certificate record before any certificate was issued")
	}
	expiry := clk.Now().Add(time.Hour)
	for _, id := range []string{"keep", "leaves", "expires", "renamed"} {
		if err := r.RecordCertificate(id, CertInfo{SerialNumber: "a1", Issuer: "AA:BB", NotAfter: expiry}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.RecordCertificate("nobody", CertInfo{NotAfter: expiry}); !errors.Is(err, ErrNotFound) {
		t.Errorf("recording a certificate of an unknown workload = %v, want ErrNotFound", err)
	}
	w, err := r.Get("keep")
	if err != nil || w.CertExpiry == nil || !w.CertExpiry.Equal(expiry) {
		t.Fatalf("keep: CertExpiry %v (err %v), want %v", w.CertExpiry, err, expiry)
	}

	// A renewal of the same registration keeps the record; the workload's end drops it.
	if _, err := r.Register(workload("keep")); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister("leaves"); err != nil {
		t.Fatal(err)
	}
	other := workload("renamed")
	other.ServiceAccount = "another-sa" // another identity: the old certificate is not its
	if _, err := r.Register(other); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl / 2)
	if _, err := r.Renew("keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Renew("renamed"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl/2 + time.Second)
	if _, err := r.Sweep(); err != nil {
		t.Fatal(err)
	}

	got := r.Certificates()
	if len(got) != 1 || got["keep"].Issuer != "AA:BB" {
		t.Fatalf("records = %v, want only keep's", got)
	}
	if _, err := r.Register(workload("leaves")); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Certificate("leaves"); ok {
		t.Error("a workload registered again inherited the record of its previous registration")
	}
}
