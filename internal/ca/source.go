package ca

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Source says where a CA's certificate and key come from. weftd persists it for the CA in
// use and for the one a rotation moves to.
type Source struct {
	// Type is v1alpha1.CATypeBuiltin or v1alpha1.CATypeFiles.
	Type string `json:"type"`
	// Dir holds a built-in root's root.pem and root-key.pem.
	Dir string `json:"dir,omitempty"`
	// Files names the files of a files CA.
	Files *v1alpha1.CAFiles `json:"files,omitempty"`
}

// ErrInvalidCA marks a CA that cannot be used (missing or bad files); the message says which
// file and what is wrong.
var ErrInvalidCA = errors.New("invalid CA")

// String describes the source for logs and messages.
func (s Source) String() string {
	switch {
	case s.Type == v1alpha1.CATypeBuiltin:
		return "builtin (" + filepath.Join(s.Dir, RootCertFile) + ")"
	case s.Type == v1alpha1.CATypeFiles && s.Files != nil:
		return "files (certFile " + s.Files.CertFile + ")"
	}
	return s.Type
}

// Spec is the Mesh's spec.ca for the source.
func (s Source) Spec() *v1alpha1.CASpec {
	spec := &v1alpha1.CASpec{Type: s.Type}
	if s.Files != nil {
		f := *s.Files
		spec.Files = &f
	}
	return spec
}

// Matches reports whether a Mesh's spec.ca names this source: the same type and, for files,
// the same files. A builtin spec matches every built-in root.
func (s Source) Matches(spec *v1alpha1.CASpec) bool {
	typ := spec.Type
	if typ == "" {
		typ = v1alpha1.CATypeBuiltin
	}
	if typ != s.Type {
		return false
	}
	if typ != v1alpha1.CATypeFiles {
		return true
	}
	a, b := spec.Files, s.Files
	if a == nil || b == nil {
		return a == b
	}
	same := func(x, y string) bool {
		return x == y || (x != "" && y != "" && filepath.Clean(x) == filepath.Clean(y))
	}
	return same(a.CertFile, b.CertFile) && same(a.KeyFile, b.KeyFile) && same(a.ChainFile, b.ChainFile) && same(a.RootFile, b.RootFile)
}

// Open loads the backend of a source. A built-in root is created in Dir if it does not exist.
// Errors about the CA itself wrap ErrInvalidCA.
func Open(src Source, leafTTL time.Duration, now func() time.Time, log *slog.Logger) (Backend, error) {
	switch src.Type {
	case v1alpha1.CATypeBuiltin:
		b, err := LoadOrCreateBuiltin(BuiltinConfig{Dir: src.Dir, LeafTTL: leafTTL, Now: now}, log)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidCA, err)
		}
		return b, nil
	case v1alpha1.CATypeFiles:
		if src.Files == nil {
			return nil, fmt.Errorf("%w: files CA: no files named", ErrInvalidCA)
		}
		f, err := LoadFiles(FilesConfig{
			CertFile: src.Files.CertFile, KeyFile: src.Files.KeyFile, ChainFile: src.Files.ChainFile,
			RootFile: src.Files.RootFile, LeafTTL: leafTTL, Now: now,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidCA, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("%w: CA type %q is not supported; use builtin or files", ErrInvalidCA, src.Type)
}
