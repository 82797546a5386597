package apiclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// LoadBootstrap reads a proxy bootstrap: the JSON form of a ClientConfig, as weftd writes it to
// <data-dir>/proxy-bootstrap.json, with the API URL, the xDS address and the CA of weftd's
// serving certificate. Its token is optional (the proxy then authenticates with a join token)
// and is not checked here. Unknown fields are refused.
func LoadBootstrap(path string) (*ClientConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the proxy bootstrap: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg ClientConfig
	if err := dec.Decode(&cfg); err != nil {
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] != '{' {
			return nil, fmt.Errorf("%s is not a JSON proxy bootstrap (%v): give the file weftd writes to <data-dir>/proxy-bootstrap.json; weft's YAML client config is not one", path, err)
		}
		return nil, fmt.Errorf("parsing the proxy bootstrap %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("parsing the proxy bootstrap %s: data after the JSON object", path)
	}
	return &cfg, nil
}

// WriteBootstrap writes cfg as a proxy bootstrap (JSON). Without a token the file holds no
// secret, and is written readable by all (0644); with one, owner-readable only (0600).
func WriteBootstrap(path string, cfg *ClientConfig) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the proxy bootstrap: %w", err)
	}
	perm := os.FileMode(0o644)
	if cfg.Token != "" {
		perm = 0o600
	}
	if err := WriteConfigFile(path, append(data, '\n'), perm); err != nil {
		return fmt.Errorf("writing the proxy bootstrap: %w", err)
	}
	return nil
}

// WriteConfigFile replaces path with data atomically (a temporary file, then a rename), with
// mode perm, creating its directory (0700) if needed.
func WriteConfigFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil { // WriteFile keeps the mode of an old file
		return err
	}
	return os.Rename(tmp, path)
}
