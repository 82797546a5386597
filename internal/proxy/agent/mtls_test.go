package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/wire"
)

// PlaintextReport makes fakeDataPlane a dataPlane.
func (d *fakeDataPlane) PlaintextReport() wire.PlaintextReport { return wire.PlaintextReport{} }

func TestParseAppPortDedicatedInbound(t *testing.T) {
	got, err := ParseAppPort("7000=127.0.0.1:9002@15008")
	want := wire.AppPort{Port: 7000, Target: "127.0.0.1:9002", InboundPort: 15008}
	if err != nil || got != want {
		t.Fatalf("ParseAppPort = %+v, %v; want %+v", got, err, want)
	}
	for in, wantErr := range map[string]string{
		"7000=127.0.0.1:9002@":      "dedicated inbound port",
		"7000=127.0.0.1:9002@0":     "dedicated inbound port",
		"7000=127.0.0.1:9002@70000": "dedicated inbound port",
		"7000=127.0.0.1@15008":      "must be HOST:PORT",
	} {
		if _, err := ParseAppPort(in); err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseAppPort(%q) = %v, want an error naming the value and containing %q", in, err, wantErr)
		}
	}
}

func TestDedicatedInboundPorts(t *testing.T) {
	base := func() Config {
		return Config{
			Mode: wire.ModeSidecar, ID: "web-1.default", Service: "web", InboundPort: 15006,
			Apps: []wire.AppPort{
				{Port: 9090, Target: "127.0.0.1:9091", InboundPort: 15090},
				{Port: 8080, Target: "127.0.0.1:8081"},
				{Port: 7000, Target: "127.0.0.1:7001", InboundPort: 15070},
			},
			Upstreams: []wire.Upstream{{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080}},
		}.WithDefaults()
	}
	c := base()
	if err := c.ValidateWorkload(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if diff := cmp.Diff([]wire.DedicatedInbound{{Port: 7000, InboundPort: 15070}, {Port: 9090, InboundPort: 15090}}, dedicatedInbound(c.Apps)); diff != "" {
		t.Errorf("registration (-want +got):\n%s", diff)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"the inbound port", func(c *Config) { c.Apps[0].InboundPort = 15006 }, "app port 9090: dedicated inbound port 15006 is already the inbound port (--inbound-port)"},
		{"another app's", func(c *Config) { c.Apps[2].InboundPort = 15090 }, "app port 7000: dedicated inbound port 15090 is already the dedicated inbound port of app port 9090"},
		{"an upstream's", func(c *Config) { c.Apps[0].InboundPort = 18080 }, "app port 9090: dedicated inbound port 18080 is already the local port of upstream api.default:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(&c)
			if err := c.ValidateWorkload(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ValidateWorkload = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
