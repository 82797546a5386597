// Package clientconfig reads and writes the client config of weft, the CLI: the YAML file
// (<data-dir>/client.yaml, written by weftd at start; ~/.weft/config.yaml by default) that holds
// weftd's API URL, its xDS address, the CA of its serving certificate and the admin token.
//
// Proxies do not read it: they take a JSON bootstrap without the admin token
// (apiclient.LoadBootstrap), so that the proxy neither holds weftd's admin credential nor
// links a YAML parser.
package clientconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/internal/apiclient"
)

// DefaultPath is where weft looks for its client config when neither --config nor
// $WEFT_CONFIG says otherwise: ~/.weft/config.yaml.
func DefaultPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".weft", "config.yaml")
	}
	return filepath.Join(home, ".weft", "config.yaml")
}

// Load reads a client config file (YAML or JSON) and checks it is complete.
func Load(path string) (*apiclient.ClientConfig, error) {
	cfg, err := read(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	return cfg, nil
}

func read(path string) (*apiclient.ClientConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading client config: %w", err)
	}
	var cfg apiclient.ClientConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("parsing client config %s: %w", path, err)
	}
	return &cfg, nil
}

// Marshal encodes cfg as the YAML that Write writes and Load reads.
func Marshal(cfg *apiclient.ClientConfig) ([]byte, error) {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding client config: %w", err)
	}
	return data, nil
}

// Write writes cfg to path as YAML, owner-readable only (0600): it holds the admin token.
func Write(path string, cfg *apiclient.ClientConfig) error {
	data, err := Marshal(cfg)
	if err != nil {
		return err
	}
	if err := apiclient.WriteConfigFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing client config: %w", err)
	}
	return nil
}
