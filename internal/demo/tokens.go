package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
)

// demoTokenTTL is the lifetime of the join tokens the demo gives its proxies: the longest
// weftd allows, since a demo runs until it is stopped and a proxy needs its token all along.
const demoTokenTTL = apiclient.MaxJoinTokenTTL

// tokenIdentity is the identity a proxy of the demo proves with its join token.
type tokenIdentity struct {
	logName        string // names the token file
	serviceAccount string
}

// tokenIdentities are the demo's proxies: each sidecar has its service's service account (the
// proxy's default), the gateway its gateway's name.
func (p plan) tokenIdentities() []tokenIdentity {
	var out []tokenIdentity
	for _, w := range p.Workloads {
		out = append(out, tokenIdentity{logName: w.proxyLogName(), serviceAccount: w.Service})
	}
	return append(out, tokenIdentity{logName: p.Gateway.logName(), serviceAccount: p.Gateway.Name})
}

// tokenDir holds the proxies' join tokens while the demo runs.
func (r *runner) tokenDir() string { return filepath.Join(r.workDir, "tokens") }

// tokenFile is the join token file of the proxy logged as logName.
func (r *runner) tokenFile(logName string) string {
	return filepath.Join(r.tokenDir(), logName+".token")
}

// createJoinTokens gives each proxy a join token for its own identity, so that no proxy holds
// weftd's admin token: each proxy can register and get a certificate only as itself.
func (r *runner) createJoinTokens(ctx context.Context) error {
	if err := os.MkdirAll(r.tokenDir(), 0o700); err != nil {
		return fmt.Errorf("creating the join token directory: %w", err)
	}
	client, err := apiclient.New(r.clientCfg)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ids := r.plan.tokenIdentities()
	for _, id := range ids {
		created, err := client.CreateJoinToken(ctx, &apiclient.CreateJoinTokenRequest{
			Namespace:      demoNamespace,
			ServiceAccount: id.serviceAccount,
			TTLSeconds:     int64(demoTokenTTL / time.Second),
		})
		if err != nil {
			return fmt.Errorf("creating a join token for %s: %w", id.logName, err)
		}
		if err := os.WriteFile(r.tokenFile(id.logName), []byte(created.Token+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the join token of %s: %w", id.logName, err)
		}
	}
	fmt.Fprintf(r.out, "Created a join token for each of the %d proxies: each may register and get a certificate only as itself ('weft token list')\n", len(ids))
	return nil
}

// joinTokenArgs are the arguments that give the proxy logged as logName its join token.
func (r *runner) joinTokenArgs(logName string) []string {
	return []string{"--join-token-file", r.tokenFile(logName)}
}
