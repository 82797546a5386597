package identity

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestRenewNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer := newFakeSigner(t, time.Hour)
		m, err := New(Config{Signer: signer, SPIFFEID: testID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A request made before the first certificate is asked for is covered by it.
		m.RenewNow()
		time.Sleep(time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		first := <-signer.calls
		<-m.Ready()
		c1 := m.Certificate()

		noCall := func(what string) {
			t.Helper()
			synctest.Wait()
			select {
			case c := <-signer.calls:
				t.Fatalf("%s: a certificate was asked for at %s", what, c.at)
			default:
			}
		}
		time.Sleep(10 * time.Minute) // well before the half-life (30m)
		noCall("a request older than the held certificate")

		// weftd asks (twice, as two lease answers would): one renewal, at once.
		asked := time.Now()
		m.RenewNow()
		m.RenewNow()
		second := <-signer.calls
		if !second.at.Equal(asked) {
			t.Errorf("renewal asked at %s, want at once (%s), not at the half-life", second.at, asked)
		}
		synctest.Wait()
		if c2 := m.Certificate(); c2 == c1 || c2.Leaf.SerialNumber.Cmp(c1.Leaf.SerialNumber) == 0 {
			t.Fatal("RenewNow did not replace the certificate")
		}
		time.Sleep(time.Minute)
		noCall("a second request made before the renewal")
		if !second.at.After(first.at) {
			t.Errorf("renewal at %s is not after the first certificate at %s", second.at, first.at)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}
