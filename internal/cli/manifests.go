package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/weftmesh/weft/internal/manifest"
)

// readManifests reads every document of every path: a file, a directory (its .yaml, .yml and
// .json files, sorted, not recursive), or "-" for stdin. A document that is not valid YAML is an
// error naming the file and the document.
func readManifests(paths []string, stdin io.Reader) ([]manifest.Document, error) {
	var out []manifest.Document
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			docs, err := manifest.Split("<stdin>", data, false)
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
			docs, err := manifest.Split(f, data, false)
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
