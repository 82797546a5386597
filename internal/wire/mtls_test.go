package wire

import (
	"strings"
	"testing"
)

func TestInboundPortFor(t *testing.T) {
	w := &Workload{InboundPort: 15006, DedicatedInbound: []DedicatedInbound{{Port: 7000, InboundPort: 15008}}}
	if got := w.InboundPortFor(7000); got != 15008 {
		t.Errorf("InboundPortFor(7000) = %d, want the dedicated 15008", got)
	}
	if got := w.InboundPortFor(8080); got != 15006 {
		t.Errorf("InboundPortFor(8080) = %d, want the shared 15006", got)
	}
}

func TestValidateDedicatedInbound(t *testing.T) {
	base := func(d ...DedicatedInbound) *Workload {
		return &Workload{ID: "w", Service: "s", Namespace: "n", ServiceAccount: "s", Address: "127.0.0.1", InboundPort: 15006, DedicatedInbound: d}
	}
	tests := []struct {
		name    string
		w       *Workload
		wantErr string
	}{
		{name: "none", w: base()},
		{name: "two", w: base(DedicatedInbound{7000, 15008}, DedicatedInbound{7001, 15009})},
		{name: "bad service port", w: base(DedicatedInbound{0, 15008}), wantErr: "service port 0 is out of range"},
		{name: "bad inbound port", w: base(DedicatedInbound{7000, 70000}), wantErr: "dedicated inbound port 70000 of service port 7000 is out of range"},
		{name: "the shared port", w: base(DedicatedInbound{7000, 15006}), wantErr: "is the shared inbound port"},
		{name: "used twice", w: base(DedicatedInbound{7000, 15008}, DedicatedInbound{7001, 15008}), wantErr: "dedicated inbound port 15008 is used by service ports 7000 and 7001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInboundChainPort(t *testing.T) {
	tests := []struct {
		name string
		port int32
		ok   bool
	}{
		{InboundClusterName(8080), 8080, true},
		{InboundPlaintextChainName(7000), 7000, true},
		{"inbound|0", 0, false},
		{"inbound|x", 0, false},
		{"outbound|80||api.default", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if port, ok := InboundChainPort(tt.name); port != tt.port || ok != tt.ok {
			t.Errorf("InboundChainPort(%q) = %d, %v; want %d, %v", tt.name, port, ok, tt.port, tt.ok)
		}
	}
}
