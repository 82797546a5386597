package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// manifest is one YAML or JSON document read from a file.
type manifest struct {
	Source string          // "file.yaml" or "file.yaml#3" (3rd document)
	JSON   json.RawMessage // the document as JSON
}

// readManifests reads every document of every path: a file, a directory (its .yaml, .yml and
// .json files, sorted, not recursive), or "-" for stdin. A document that is not valid YAML is an
// error naming the file and the document.
func readManifests(paths []string, stdin io.Reader) ([]manifest, error) {
	var out []manifest
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			docs, err := splitDocuments("<stdin>", data)
			if err != nil {
				return nil, err
			}
			out = append(out, docs...)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		files := []string{p}
		if info.IsDir() {
			files, err = manifestFiles(p)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s holds no .yaml, .yml or .json file", p)
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", f, err)
			}
			docs, err := splitDocuments(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, docs...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no resources found in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

// splitDocuments splits a YAML stream on "---" lines and converts each non-empty document to
// JSON. Documents are numbered from 1 in Source when the file holds more than one.
func splitDocuments(name string, data []byte) ([]manifest, error) {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	docs = append(docs, cur.Bytes())

	var out []manifest
	multi := len(docs) > 1
	for i, d := range docs {
		source := name
		if multi {
			source = fmt.Sprintf("%s#%d", name, i+1)
		}
		if isBlank(d) {
			continue
		}
		j, err := yaml.YAMLToJSON(d)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w", source, err)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(j), []byte("{")) {
			return nil, fmt.Errorf("%s: a resource must be a mapping with apiVersion, kind, metadata and spec", source)
		}
		out = append(out, manifest{Source: source, JSON: j})
	}
	return out, nil
}

// isBlank reports whether a document holds only whitespace and comments.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}
