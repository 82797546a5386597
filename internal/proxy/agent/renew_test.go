package agent

import (
	"context"
	"testing"
)

// TestLeaseAnswerRenewsTheCertificate: a lease answer that asks for it (a CA rotation) makes
// the proxy renew its certificate at once, and only while weftd asks.
func TestLeaseAnswerRenewsTheCertificate(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.start(ctx)
	eventually(t, "the first configuration", func() bool { return h.ev.count("apply") == 1 })
	signs := func() int { return h.ev.count("sign") }
	first := signs()
	if first != 1 {
		t.Fatalf("%d certificates before any renewal was asked, want 1", first)
	}

	h.weftd.set(func(f *fakeWeftd) { f.renewCert = true })
	eventually(t, "a certificate asked for after the lease answer", func() bool { return signs() > first })
	h.weftd.set(func(f *fakeWeftd) { f.renewCert = false })
	settled := signs()
	// The lease (1s) is renewed every ~333ms: two more renewals that do not ask must not
	// bring another certificate (it lives an hour).
	renewals := h.ev.count("renew")
	eventually(t, "two more lease renewals", func() bool { return h.ev.count("renew") >= renewals+2 })
	if got := signs(); got != settled {
		t.Errorf("%d certificates asked for after weftd stopped asking, want none", got-settled)
	}
	cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("run = %v", err)
	}
}
