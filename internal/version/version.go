// Package version reports the build version of Weft's binaries.
package version

import (
	"runtime/debug"
)

// version can be set at link time: -ldflags "-X github.com/weftmesh/weft/internal/version.version=v0.1.0".
var version = ""

// String returns the build version: the link-time version if set, else the module version, else
// the VCS revision (with "+dirty" when the tree was modified), else "dev".
func String() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "dev-" + rev + dirty
}
