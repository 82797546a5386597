package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is the Go module whose source tree the demo can build its binaries from.
const modulePath = "github.com/weftmesh/weft"

// binaries are the paths of the programs the demo starts.
type binaries struct {
	Weftd string
	Proxy string
	App   string
}

// binarySpec names a program the demo needs and the package that builds it.
type binarySpec struct {
	Name    string
	Package string
	field   func(*binaries) *string
}

var binarySpecs = []binarySpec{
	{Name: "weftd", Package: "./cmd/weftd", field: func(b *binaries) *string { return &b.Weftd }},
	{Name: "weft-proxy", Package: "./cmd/weft-proxy", field: func(b *binaries) *string { return &b.Proxy }},
	{Name: "demo-app", Package: "./examples/demo-app", field: func(b *binaries) *string { return &b.App }},
}

// binariesIn returns the programs found in dir, and the names of those missing.
func binariesIn(dir string) (binaries, []string) {
	var b binaries
	var missing []string
	for _, s := range binarySpecs {
		p := filepath.Join(dir, s.Name)
		if isExecutable(p) {
			*s.field(&b) = p
		} else {
			missing = append(missing, s.Name)
		}
	}
	return b, missing
}

// binariesOnPath returns the programs found by lookPath, and the names of those missing.
func binariesOnPath(lookPath func(string) (string, error)) (binaries, []string) {
	var b binaries
	var missing []string
	for _, s := range binarySpecs {
		p, err := lookPath(s.Name)
		if err != nil {
			missing = append(missing, s.Name)
			continue
		}
		*s.field(&b) = p
	}
	return b, missing
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// errNotModule is returned by findModuleRoot when no directory holds Weft's go.mod.
var errNotModule = errors.New("not inside the source tree of " + modulePath)

// findModuleRoot walks up from dir to the directory whose go.mod declares Weft's module.
func findModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		switch {
		case err == nil:
			mod, readErr := moduleName(f)
			_ = f.Close()
			if readErr != nil {
				return "", fmt.Errorf("reading %s: %w", filepath.Join(dir, "go.mod"), readErr)
			}
			if mod == modulePath {
				return dir, nil
			}
			// Another module (this one may be vendored or nested in it): keep looking up.
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("reading %s: %w", filepath.Join(dir, "go.mod"), err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNotModule
		}
		dir = parent
	}
}

// moduleName returns the path of the module directive of a go.mod file.
func moduleName(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", sc.Err()
}

// buildBinaries builds every program with `go build` in the module at root, into outDir. The
// go command's output goes to w.
func buildBinaries(ctx context.Context, goTool, root, outDir string, w io.Writer) (binaries, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return binaries{}, fmt.Errorf("creating %s: %w", outDir, err)
	}
	// The flags of scripts/build.sh: static binaries without gRPC's tracing pages, as they ship.
	args := []string{"build", "-trimpath", "-tags", "grpcnotrace", "-o", outDir + string(filepath.Separator)}
	for _, s := range binarySpecs {
		args = append(args, s.Package)
	}
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		return binaries{}, fmt.Errorf("building the demo's programs (go %s in %s): %w", strings.Join(args, " "), root, err)
	}
	b, missing := binariesIn(outDir)
	if len(missing) > 0 {
		return binaries{}, fmt.Errorf("go build left no %s in %s", strings.Join(missing, ", "), outDir)
	}
	return b, nil
}
