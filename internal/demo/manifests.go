package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/internal/apiclient"
)

// manifest is one resource read from a YAML file, as JSON.
type manifest struct {
	Source string // "file.yaml#2": the file and the document's position in it, from 1
	JSON   json.RawMessage
}

// splitYAML splits a YAML stream on "---" lines and converts every document that holds more
// than comments to JSON.
func splitYAML(name string, data []byte) ([]manifest, error) {
	var docs []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	docs = append(docs, cur.String())

	var out []manifest
	for i, doc := range docs {
		if onlyComments(doc) {
			continue
		}
		source := fmt.Sprintf("%s#%d", name, i+1)
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w", source, err)
		}
		if !bytes.HasPrefix(j, []byte("{")) {
			return nil, fmt.Errorf("%s: a resource must be a mapping, not %.20s", source, j)
		}
		out = append(out, manifest{Source: source, JSON: j})
	}
	return out, nil
}

// onlyComments reports whether a YAML document holds nothing but blank lines and comments.
func onlyComments(doc string) bool {
	for line := range strings.Lines(doc) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// patchGatewayPort returns m with the listeners of Gateway default/<gateway> on port from moved
// to port to, and whether m is that Gateway. Other resources are returned unchanged.
func patchGatewayPort(m manifest, gateway string, from, to int) (manifest, bool, error) {
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
	return manifest{Source: m.Source, JSON: patched}, true, nil
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
		docs, err := splitYAML("examples/demo/"+f, data)
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
