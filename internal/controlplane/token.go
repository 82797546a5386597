package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// tokenBytes is the entropy of the API token.
const tokenBytes = 32

// loadOrCreateToken reads the API token from path, creating it (mode 0600, 32 random bytes in
// hex) at first start.
func loadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := strings.TrimSpace(string(data))
		if len(token) < 16 {
			return "", fmt.Errorf("the API token in %s is shorter than 16 characters: remove the file to make a new one", path)
		}
		return token, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	buf := make([]byte, tokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating the API token: %w", err)
	}
	token := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating the API token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return "", fmt.Errorf("writing the API token: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("writing the API token: %w", err)
	}
	return token, nil
}
