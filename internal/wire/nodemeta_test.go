package wire

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestNodeMetadataRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta ProxyMeta
	}{
		{
			name: "sidecar",
			meta: ProxyMeta{
				Mode: ModeSidecar, WorkloadID: "web-1.default", Service: "web", Namespace: "default",
				ServiceAccount: "web", Address: "10.0.0.7", InboundPort: 15006,
				Apps:      []AppPort{{Port: 8080, Target: "127.0.0.1:9001"}},
				Upstreams: []Upstream{{Service: "api", Namespace: "prod", Port: 80, LocalPort: 18080}},
				Version:   "v0.1.0",
			},
		},
		{
			name: "gateway",
			meta: ProxyMeta{Mode: ModeGateway, Namespace: "edge", Gateway: "public", Address: "0.0.0.0"},
		},
		{
			name: "proxyless",
			meta: ProxyMeta{Mode: ModeProxyless},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := EncodeNodeMetadata(tt.meta)
			if err != nil {
				t.Fatalf("EncodeNodeMetadata: %v", err)
			}
			if got := s.Fields["mode"].GetStringValue(); got != tt.meta.Mode {
				t.Errorf("mode field = %q, want %q", got, tt.meta.Mode)
			}
			got, err := DecodeNodeMetadata(s)
			if err != nil {
				t.Fatalf("DecodeNodeMetadata: %v", err)
			}
			if diff := cmp.Diff(tt.meta, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeNodeMetadata(t *testing.T) {
	mustStruct := func(m map[string]any) *structpb.Struct {
		t.Helper()
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name    string
		in      *structpb.Struct
		want    ProxyMeta
		wantErr string
	}{
		{name: "nil means proxyless", in: nil, want: ProxyMeta{Mode: ModeProxyless}},
		{name: "empty means proxyless", in: mustStruct(map[string]any{}), want: ProxyMeta{Mode: ModeProxyless}},
		{
			name: "foreign metadata without mode means proxyless",
			in:   mustStruct(map[string]any{"TRAFFICDIRECTOR_NETWORK_NAME": "x"}),
			want: ProxyMeta{Mode: ModeProxyless},
		},
		{
			name: "unknown fields ignored",
			in:   mustStruct(map[string]any{"mode": "sidecar", "inboundPort": 15006.0, "extra": true}),
			want: ProxyMeta{Mode: ModeSidecar, InboundPort: 15006},
		},
		{name: "bad mode", in: mustStruct(map[string]any{"mode": "router"}), wantErr: `mode "router"`},
		{
			name:    "wrong type",
			in:      mustStruct(map[string]any{"mode": "sidecar", "inboundPort": "x"}),
			wantErr: "inboundPort",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeNodeMetadata(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeNodeMetadata: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
