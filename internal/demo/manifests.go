package demo

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/manifest"
)

// patchGatewayPort returns m with the listeners of Gateway default/<gateway> on port from moved
// to port to, and whether m is that Gateway. Other resources are returned unchanged.
func patchGatewayPort(m manifest.Document, gateway string, from, to int) (manifest.Document, bool, error) {
	var obj map[string]any
	if err := json.Unmarshal(m.JSON, &obj); err != nil {
		return m, false, fmt.Errorf("%s: %w", m.Source, err)
	}
	meta, _ := obj["metadata"].(map[string]any)
	if obj["kind"] != "Gateway" || meta == nil || meta["name"] != gateway {
		return m, false, nil
	}
	if ns, ok := meta["namespace"]; ok && ns != "default" {
		return m, false, nil
	}
	spec, _ := obj["spec"].(map[string]any)
	listeners, _ := spec["listeners"].([]any)
	moved := 0
	for i, l := range listeners {
		listener, ok := l.(map[string]any)
		if !ok {
			return m, true, fmt.Errorf("%s: spec.listeners[%d] is not a mapping", m.Source, i)
		}
		if port, ok := listener["port"].(float64); ok && int(port) == from {
			listener["port"] = to
			moved++
		}
	}
	if moved == 0 {
		return m, true, fmt.Errorf("%s: Gateway %s has no listener on port %d to move to port %d", m.Source, gateway, from, to)
	}
	patched, err := json.Marshal(obj)
	if err != nil {
		return m, true, fmt.Errorf("%s: %w", m.Source, err)
	}
	return manifest.Document{Source: m.Source, JSON: patched}, true, nil
}

// applyRequest reads files from fsys and builds the apply request of their resources, with the
// listener of the demo's Gateway moved from its port in the YAML to gatewayPort. It fails if the
// files do not hold that Gateway.
func applyRequest(fsys fs.FS, files []string, gateway string, yamlPort, gatewayPort int) (*apiclient.ApplyRequest, error) {
	req := &apiclient.ApplyRequest{}
	found := false
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading demo resources: %w", err)
		}
		docs, err := manifest.Split("examples/demo/"+f, data, true)
		if err != nil {
			return nil, err
		}
		for _, m := range docs {
			m, isGateway, err := patchGatewayPort(m, gateway, yamlPort, gatewayPort)
			if err != nil {
				return nil, err
			}
			found = found || isGateway
			req.Resources = append(req.Resources, m.JSON)
			req.Sources = append(req.Sources, m.Source)
		}
	}
	if !found {
		return nil, fmt.Errorf("the demo resources (%s) hold no Gateway %q", strings.Join(files, ", "), gateway)
	}
	return req, nil
}
