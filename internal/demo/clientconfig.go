package demo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
)

// demoMarker is the first line of a client config written by the demo. The demo overwrites
// such a file (left by a previous demo) and removes it when it stops; it never touches a client
// config without this line.
const demoMarker = "# Written by `weft demo`, which removes this file when it stops. Delete this line to keep the file."

// mayInstallConfig reports whether the demo may write its client config at path: when no file
// is there, or when the file there was written by a demo.
func mayInstallConfig(path string) (bool, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("reading client config %s: %w", path, err)
	}
	return writtenByDemo(data), nil
}

// writtenByDemo reports whether a client config file starts with the demo's marker line.
func writtenByDemo(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return string(bytes.TrimRight(line, "\r")) == demoMarker
}

// installConfig writes cfg at path (mode 0600, directory 0700), marked as the demo's, and
// returns the bytes written so that removeConfig removes only that very file.
func installConfig(path string, cfg *apiclient.ClientConfig) ([]byte, error) {
	body, err := clientconfig.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	data := append([]byte(demoMarker+"\n"), body...)
	if err := apiclient.WriteConfigFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("writing client config %s: %w", path, err)
	}
	return data, nil
}

// removeConfig removes the client config at path if it still holds exactly what the demo
// wrote; a file changed since (by the user, or by another demo) is left alone. It reports
// whether it removed the file.
func removeConfig(path string, written []byte) (bool, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading client config %s: %w", path, err)
	case !bytes.Equal(data, written):
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("removing client config %s: %w", path, err)
	}
	return true, nil
}
