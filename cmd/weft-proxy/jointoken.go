package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/weftmesh/weft/internal/apiclient"
)

// joinTokenEnv holds a join token, as --join-token-file does in a file.
const joinTokenEnv = "WEFT_JOIN_TOKEN"

// joinTokenPrefix starts every join token (weft-jt.<id>.<secret>).
const joinTokenPrefix = "weft-jt."

// readJoinToken returns the join token of --join-token-file or $WEFT_JOIN_TOKEN, or "" when
// neither is set. Errors never hold the token.
func readJoinToken(o *options, log *slog.Logger) (string, error) {
	token, source := o.joinToken, "$"+joinTokenEnv
	if o.joinTokenFile != "" {
		source = "join token file " + o.joinTokenFile
		if perm, open := openToOthers(o.joinTokenFile); open {
			log.Warn("the join token file is readable by other users; chmod 600 it", "path", o.joinTokenFile, "mode", perm.String())
		}
		data, err := os.ReadFile(o.joinTokenFile)
		if err != nil {
			return "", fmt.Errorf("reading the join token: %w", err)
		}
		token = string(data)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		if o.joinTokenFile != "" {
			return "", fmt.Errorf("%s is empty", source)
		}
		return "", nil
	}
	if _, ok := joinTokenID(token); !ok {
		return "", fmt.Errorf("%s does not hold a join token: want %s<id>.<secret>, as 'weft token create' prints it", source, joinTokenPrefix)
	}
	return token, nil
}

// joinTokenID returns the public ID of a join token (fit for logs), and whether the token has
// the form weft-jt.<id>.<secret>.
func joinTokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, joinTokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, ".")
	return id, ok && id != "" && secret != "" && !strings.ContainsAny(token, " \t\r\n")
}

// openToOthers reports whether path can be read or written by users other than its owner.
func openToOthers(path string) (os.FileMode, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return info.Mode().Perm(), info.Mode().Perm()&0o077 != 0
}

// loadClientConfig reads the proxy bootstrap (--bootstrap). A join token, when given, is the
// credential; else the bootstrap must hold a token of its own.
func loadClientConfig(path, joinToken string) (*apiclient.ClientConfig, error) {
	cfg, err := apiclient.LoadBootstrap(path)
	if err != nil {
		return nil, err
	}
	if joinToken != "" {
		cfg.Token = joinToken
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("no credential for weftd: give a join token (--join-token-file or $%s; 'weft token create' makes one), or a bootstrap with a token", joinTokenEnv)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy bootstrap %s: %w", path, err)
	}
	return cfg, nil
}
