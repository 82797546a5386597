package wire

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"
)

// EncodeNodeMetadata returns m as the google.protobuf.Struct a proxy sends in its xDS
// Node.metadata: the fields of the JSON form of ProxyMeta.
func EncodeNodeMetadata(m ProxyMeta) (*structpb.Struct, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding node metadata: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("encoding node metadata: %w", err)
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("encoding node metadata: %w", err)
	}
	return s, nil
}

// DecodeNodeMetadata reads the ProxyMeta a proxy sent in its xDS Node.metadata. Metadata
// without a "mode" field (or none at all, as from a proxyless gRPC client) decodes to
// ModeProxyless; fields that are not part of ProxyMeta are ignored. A mode other than
// sidecar, gateway or proxyless, or a field of the wrong type, is an error.
func DecodeNodeMetadata(s *structpb.Struct) (ProxyMeta, error) {
	if s == nil || s.Fields["mode"] == nil {
		return ProxyMeta{Mode: ModeProxyless}, nil
	}
	raw, err := json.Marshal(s.AsMap())
	if err != nil {
		return ProxyMeta{}, fmt.Errorf("decoding node metadata: %w", err)
	}
	var m ProxyMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return ProxyMeta{}, fmt.Errorf("decoding node metadata: %w", err)
	}
	switch m.Mode {
	case ModeSidecar, ModeGateway, ModeProxyless:
	default:
		return ProxyMeta{}, fmt.Errorf("decoding node metadata: mode %q is not one of %s, %s, %s",
			m.Mode, ModeSidecar, ModeGateway, ModeProxyless)
	}
	return m, nil
}
