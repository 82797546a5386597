package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/wire"
)

// layout summarises a sidecar's inbound listeners: per listener, its detection bound ("-"
// when it does not serve or refuse plaintext) and its chains as name/transport.
func layout(t *testing.T, res *Resources) []string {
	t.Helper()
	var out []string
	for _, l := range res.Listeners {
		if !strings.HasPrefix(l.GetName(), "inbound") {
			continue
		}
		bound := "-"
		if l.GetContinueOnListenerFiltersTimeout() {
			bound = l.GetListenerFiltersTimeout().AsDuration().String()
		}
		var chains []string
		for _, fc := range l.GetFilterChains() {
			tls := "plain"
			if fc.GetTransportSocket() != nil {
				tls = "tls"
			}
			chains = append(chains, fc.GetName()+"/"+tls)
		}
		out = append(out, fmt.Sprintf("%s:%d %s [%s] filters=%d", l.GetName(), l.GetAddress().GetSocketAddress().GetPortValue(),
			bound, strings.Join(chains, " "), len(l.GetListenerFilters())))
	}
	return out
}

func TestInboundLayoutByMode(t *testing.T) {
	one := []wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081"}}
	two := []wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081"}, {Port: 9090, Target: "127.0.0.1:9091"}}
	tests := []struct {
		name string
		mode string // of namespace default, "" for none
		apps []wire.AppPort
		want []string
	}{
		{name: "STRICT by default", apps: one,
			want: []string{"inbound:15006 - [inbound|8080/tls] filters=1"}},
		{name: "PERMISSIVE, one port", mode: "PERMISSIVE", apps: one,
			want: []string{"inbound:15006 100ms [inbound|8080/tls inbound|8080|plaintext/plain] filters=1"}},
		{name: "DISABLE, one port", mode: "DISABLE", apps: one,
			want: []string{"inbound:15006 - [inbound|8080|plaintext/plain] filters=0"}},
		{name: "PERMISSIVE, two ports: plaintext refused on the shared port", mode: "PERMISSIVE", apps: two,
			want: []string{"inbound:15006 100ms [inbound|8080/tls inbound|9090/tls] filters=1"}},
		{name: "DISABLE, two ports, no dedicated port: no shared listener", mode: "DISABLE", apps: two},
		{name: "DISABLE, two ports, dedicated ports", mode: "DISABLE",
			apps: []wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081", InboundPort: 15008}, {Port: 9090, Target: "127.0.0.1:9091", InboundPort: 15009}},
			want: []string{
				"inbound|8080:15008 - [inbound|8080|plaintext/plain] filters=0",
				"inbound|9090:15009 - [inbound|9090|plaintext/plain] filters=0",
			}},
		{name: "STRICT with a dedicated port", apps: []wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081", InboundPort: 15008}},
			want: []string{
				"inbound:15006 - [inbound|8080/tls] filters=1",
				"inbound|8080:15008 - [inbound|8080/tls] filters=1",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSnapshot()
			addService(s, "default", "web", nil, port("http", 8080, "http"), port("metrics", 9090, "http"))
			if tt.mode != "" {
				s.MTLSPolicies = []*v1alpha1.MTLSPolicy{mtlsPolicy("default", "ns", "Namespace", "default", tt.mode)}
			}
			res, err := Translate(s, sidecarMeta("web-1.default", "default", "web", 15006, tt.apps))
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			if diff := cmp.Diff(tt.want, layout(t, res)); diff != "" {
				t.Errorf("inbound listeners (-want +got):\n%s", diff)
			}
			// The trust bundle is served exactly when some chain uses mutual TLS.
			usesTLS := strings.Contains(strings.Join(tt.want, " "), "/tls")
			if got := len(res.Secrets) > 0; got != usesTLS {
				t.Errorf("ROOTCA served: %v, want %v", got, usesTLS)
			}
		})
	}
}
