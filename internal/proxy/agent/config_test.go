package agent

import (
	"regexp"
	"strings"
	"testing"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

func TestParseAppPort(t *testing.T) {
	tests := []struct {
		in      string
		want    wire.AppPort
		wantErr string
	}{
		{in: "8080=127.0.0.1:9080", want: wire.AppPort{Port: 8080, Target: "127.0.0.1:9080"}},
		{in: "80=[::1]:8080", want: wire.AppPort{Port: 80, Target: "[::1]:8080"}},
		{in: "80=app.local:8080", want: wire.AppPort{Port: 80, Target: "app.local:8080"}},
		{in: "8080", wantErr: "want PORT=HOST:PORT"},
		{in: "0=127.0.0.1:1", wantErr: "not a port number"},
		{in: "65536=127.0.0.1:1", wantErr: "not a port number"},
		{in: "8080=127.0.0.1", wantErr: "must be HOST:PORT"},
		{in: "8080=:9080", wantErr: "must be HOST:PORT"},
		{in: "8080=127.0.0.1:0", wantErr: "bad port"},
	}
	for _, tt := range tests {
		got, err := ParseAppPort(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseAppPort(%q) = %v, want an error naming the value and containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAppPort(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in      string
		want    wire.Upstream
		wantErr string
	}{
		{in: "api.default:8080=15101", want: wire.Upstream{Service: "api", Namespace: "default", Port: 8080, LocalPort: 15101}},
		{in: "purchase-history.shop:80=1", want: wire.Upstream{Service: "purchase-history", Namespace: "shop", Port: 80, LocalPort: 1}},
		{in: "api.default:8080", wantErr: "want SVC.NS:PORT=LOCALPORT"},
		{in: "api.default=15101", wantErr: "lacks :PORT"},
		{in: "api:8080=15101", wantErr: "SERVICE.NAMESPACE"},
		{in: "api.default.svc:8080=15101", wantErr: "SERVICE.NAMESPACE"},
		{in: "API.default:8080=15101", wantErr: "DNS label"},
		{in: "api.default:http=15101", wantErr: "service port"},
		{in: "api.default:8080=0", wantErr: "local port"},
	}
	for _, tt := range tests {
		got, err := ParseUpstream(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseUpstream(%q) = %v, want an error naming the value and containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseUpstream(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseLabel(t *testing.T) {
	if k, v, err := ParseLabel("tier=front=end"); err != nil || k != "tier" || v != "front=end" {
		t.Errorf("ParseLabel(tier=front=end) = %q %q %v", k, v, err)
	}
	if k, v, err := ParseLabel("empty="); err != nil || k != "empty" || v != "" {
		t.Errorf("ParseLabel(empty=) = %q %q %v", k, v, err)
	}
	for _, bad := range []string{"tier", "=x"} {
		if _, _, err := ParseLabel(bad); err == nil {
			t.Errorf("ParseLabel(%q) succeeded", bad)
		}
	}
}

func TestDefaultID(t *testing.T) {
	re := regexp.MustCompile(`^web-[0-9a-f]{6}\.shop$`)
	a, b := DefaultID("web", "shop"), DefaultID("web", "shop")
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("DefaultID = %q, %q; want two different web-<6 hex>.shop", a, b)
	}
}

func TestConfigValidate(t *testing.T) {
	cc := &apiclient.ClientConfig{Server: "https://127.0.0.1:15080", XDS: "127.0.0.1:15010", Token: "t", CA: "pem"}
	sidecar := func() Config {
		return Config{ClientConfig: cc, ID: "web-1.default", Service: "web",
			Apps:      []wire.AppPort{{Port: 8080, Target: "127.0.0.1:9080"}},
			Upstreams: []wire.Upstream{{Service: "api", Namespace: "default", Port: 8080, LocalPort: 15101}}}
	}
	tests := []struct {
		name string
		cfg  func() Config
		want string // "" valid
	}{
		{"sidecar", sidecar, ""},
		{"gateway", func() Config {
			return Config{Mode: wire.ModeGateway, ClientConfig: cc, ID: "gw-1", Gateway: "ingress", Address: "0.0.0.0"}
		}, ""},
		{"no bootstrap", func() Config { c := sidecar(); c.ClientConfig = nil; return c }, "bootstrap (--bootstrap) is required"},
		{"bad xds address", func() Config {
			c := sidecar()
			bad := *cc
			bad.XDS = "weftd"
			c.ClientConfig = &bad
			return c
		}, "xds \"weftd\" must be host:port"},
		{"no ID", func() Config { c := sidecar(); c.ID = ""; return c }, "workload ID is required"},
		{"no service", func() Config { c := sidecar(); c.Service = ""; c.ServiceAccount = "web"; return c }, "needs --service"},
		{"bad service", func() Config { c := sidecar(); c.Service = "Web_1"; return c }, "DNS label"},
		{"bad mode", func() Config { c := sidecar(); c.Mode = "edge"; return c }, `mode "edge"`},
		{"address not an IP", func() Config { c := sidecar(); c.Address = "localhost"; return c }, "must be an IP"},
		{"unspecified address", func() Config { c := sidecar(); c.Address = "::"; return c }, "cannot be reached"},
		{"admin on all interfaces", func() Config { c := sidecar(); c.AdminAddr = ":15000"; return c }, "must be on loopback"},
		{"duplicate app port", func() Config { c := sidecar(); c.Apps = append(c.Apps, c.Apps[0]); return c }, "given twice"},
		{"upstream on the inbound port", func() Config { c := sidecar(); c.Upstreams[0].LocalPort = 15006; return c }, "the inbound port"},
		{"gateway in sidecar mode", func() Config { c := sidecar(); c.Gateway = "gw"; return c }, "only for gateway mode"},
		{"gateway without name", func() Config { return Config{Mode: wire.ModeGateway, ClientConfig: cc, ID: "gw-1"} }, "needs --gateway"},
		{"gateway with apps", func() Config {
			c := sidecar()
			c.Mode, c.Gateway = wire.ModeGateway, "gw"
			return c
		}, "for sidecar mode"},
		{"bad trust domain", func() Config { c := sidecar(); c.TrustDomain = "Weft Local"; return c }, "trust domain"},
		{"negative grace", func() Config { c := sidecar(); c.DrainGrace = -1; return c }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg().WithDefaults()
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	gw := Config{Mode: wire.ModeGateway, Gateway: "ingress"}.WithDefaults()
	if gw.ServiceAccount != "ingress" || gw.Namespace != "default" || gw.TrustDomain != "weft.local" {
		t.Errorf("gateway defaults = %+v", gw)
	}
	sc := Config{Service: "web"}.WithDefaults()
	if sc.Mode != wire.ModeSidecar || sc.ServiceAccount != "web" || sc.InboundPort != 15006 || sc.AdminAddr != "127.0.0.1:15000" ||
		sc.DrainGrace != DefaultDrainGrace || sc.DrainTimeout != DefaultDrainTimeout || sc.Address != "127.0.0.1" {
		t.Errorf("sidecar defaults = %+v", sc)
	}
}
