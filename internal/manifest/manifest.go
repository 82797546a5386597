// Package manifest splits YAML streams of Weft resources into the JSON documents that the API
// takes. The CLI (weft apply) and the demo share it so that both read files the same way.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxLine is the longest line Split reads; a longer one is an error rather than a silent cut.
const maxLine = 16 << 20

// Document is one YAML or JSON document read from a file.
type Document struct {
	Source string          // "file.yaml" or "file.yaml#3": the file and the document's position in it, from 1
	JSON   json.RawMessage // the document as JSON
}

// Split splits a YAML stream on "---" lines and converts every document that holds more than
// comments and blank lines to JSON. Each document's Source is name followed by "#N", its
// position from 1 counting skipped documents, when alwaysNumber is set or the stream holds more
// than one document, and name alone otherwise. A document that is not valid YAML, or not a
// mapping, is an error naming its Source.
func Split(name string, data []byte, alwaysNumber bool) ([]Document, error) {
	var docs []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
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

	number := alwaysNumber || len(docs) > 1
	var out []Document
	for i, doc := range docs {
		if onlyComments(doc) {
			continue
		}
		source := name
		if number {
			source = fmt.Sprintf("%s#%d", name, i+1)
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w", source, err)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(j), []byte("{")) {
			return nil, fmt.Errorf("%s: a resource must be a mapping with apiVersion, kind, metadata and spec", source)
		}
		out = append(out, Document{Source: source, JSON: j})
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
