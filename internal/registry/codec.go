package registry

import (
	"encoding/json"
	"fmt"

	"github.com/weftmesh/weft/internal/wire"
)

func encodeWorkload(w *wire.Workload) ([]byte, error) {
	raw, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding workload %s: %w", w.ID, err)
	}
	return raw, nil
}

func decodeWorkload(raw []byte) (*wire.Workload, error) {
	var w wire.Workload
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("decoding workload: %w", err)
	}
	return &w, nil
}
