package xds

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// withBundle is the test snapshot with another trust bundle.
func withBundle(bundle string) *mesh.Snapshot {
	s := testSnapshot([]string{"10.0.0.1"}, []string{"10.0.1.1"})
	s.TrustBundle = []byte(bundle)
	return s
}

func fakeBundle(name string) string {
	return fmt.Sprintf("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", name)
}

func TestProxyStatusSaysWhichTrustBundleWasApplied(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := startServer(t, Config{Debounce: 10 * time.Millisecond})
			bundleA, bundleB, bundleC := fakeBundle("QQ=="), fakeBundle("Qg=="), fakeBundle("Qw==")
			e.srv.Update(withBundle(bundleA))
			var refuseSecrets atomic.Bool
			nack := func(r response) string {
				if r.typeURL == resource.SecretType && refuseSecrets.Load() {
					return "ROOTCA: refused for the test"
				}
				return ""
			}
			conn := e.dial(t)
			p.connect(t, conn, proxyNode(t, "a", sidecarMeta("web", apiUpstream)), sidecarSubscriptions(apiUpstream, true), nack)
			proxyless := wire.ProxyMeta{Mode: wire.ModeProxyless}
			p.connect(t, conn, proxyNode(t, "pl", proxyless), []subscription{{typeURL: resource.ListenerType, names: []string{"api.default:80"}}}, nil)

			bundleOf := func(id string) func() bool {
				return func() bool { st, ok := e.status(id); return ok && st.UsesTrustBundle }
			}
			eventually(t, "a uses a trust bundle", bundleOf("a"))
			applied := func(want string) func() bool {
				return func() bool { st, _ := e.status("a"); return bytes.Equal(st.TrustBundle, []byte(want)) }
			}
			eventually(t, "a applied bundle A", applied(bundleA))

			// A refused bundle is not applied: the proxy keeps reporting the previous one.
			refuseSecrets.Store(true)
			e.srv.Update(withBundle(bundleB))
			eventually(t, "a NACKed bundle B", func() bool { st, _ := e.status("a"); return st.LastNACK != "" })
			if st, _ := e.status("a"); !bytes.Equal(st.TrustBundle, []byte(bundleA)) {
				t.Fatalf("after a NACK of bundle B, a reports bundle %q, want A", st.TrustBundle)
			}
			refuseSecrets.Store(false)
			e.srv.Update(withBundle(bundleC))
			eventually(t, "a applied bundle C", applied(bundleC))

			st, ok := e.status("pl")
			if !ok || st.UsesTrustBundle || st.TrustBundle != nil {
				t.Errorf("the proxyless client: connected %v, UsesTrustBundle %v, bundle %q; want no trust bundle", ok, st.UsesTrustBundle, st.TrustBundle)
			}
		})
	}
}
