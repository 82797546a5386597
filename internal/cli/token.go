package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/apiclient"
)

// tokenTTLRange says what lifetime a join token may have: "1m to 720h (30 days)".
var tokenTTLRange = fmt.Sprintf("%s to %s (%d days)", flagDuration(apiclient.MinJoinTokenTTL),
	flagDuration(apiclient.MaxJoinTokenTTL), apiclient.MaxJoinTokenTTL/(24*time.Hour))

// flagDuration writes d as it would be typed in a flag, without time.Duration's trailing zero
// units: 1m, 720h, 1h30m.
func flagDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func newTokenCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke join tokens",
		Long: `A join token lets a proxy prove who it is before it gets a certificate, without weftd's
admin token.

A token is bound to one workload identity: a namespace and a service account. A proxy
started with it (weft-proxy --join-token-file FILE) may register workloads of that
identity, renew and deregister them, and obtain the certificate of that identity,
spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>. It may do nothing else.

weftd keeps only a hash of each token: the token is shown once, when it is created. Only
the admin token (the one in weftd's client.yaml) may create, list and revoke tokens.

A proxy uses its token for every call to weftd, lease renewals included: a proxy whose
token expires or is revoked can no longer renew its lease, and its workload leaves the
mesh when the lease runs out. Give a token a lifetime that covers the proxy's.`,
	}
	cmd.AddCommand(newTokenCreateCmd(o), newTokenListCmd(o), newTokenRevokeCmd(o))
	return cmd
}

func newTokenCreateCmd(o *options) *cobra.Command {
	var namespace, serviceAccount, output string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --service-account SA [--namespace NS] [--ttl DURATION]",
		Short: "Create a join token for one identity and print it",
		Long: `Create a join token for the identity of a service account in a namespace.

A join token only bootstraps a proxy: the proxy uses it to register its workload and obtain
its first certificate, then authenticates to weftd with that certificate (renewed at half its
lifetime), so the token may expire or be revoked while the proxy runs. The token's lifetime
need only cover the proxy's start, or every start if it is reused. A revoked or expired token
starts no new proxy.

The token alone goes to standard output, so that it can be written to a file; what it
grants and when it expires go to standard error. With -o json or -o yaml, the token and
its description go to standard output. The token cannot be shown again: weftd keeps only
its hash.`,
		Example: `  weft token create --namespace shop --service-account web > web.token
  weft-proxy --join-token-file web.token --namespace shop --service web --bootstrap proxy-bootstrap.json ...
  weft token create -n shop --service-account web --ttl 24h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if serviceAccount == "" {
				return fmt.Errorf("--service-account is required: the token grants the identity of that service account")
			}
			if ttl < apiclient.MinJoinTokenTTL || ttl > apiclient.MaxJoinTokenTTL {
				return fmt.Errorf("--ttl %v is out of range %s", ttl, tokenTTLRange)
			}
			if ttl%time.Second != 0 {
				return fmt.Errorf("--ttl %v: give a whole number of seconds", ttl)
			}
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			created, err := c.CreateJoinToken(ctx, &apiclient.CreateJoinTokenRequest{
				Namespace: namespace, ServiceAccount: serviceAccount, TTLSeconds: int64(ttl / time.Second),
			})
			if err != nil {
				return fmt.Errorf("creating a join token: %w", err)
			}
			if output != "" {
				return printObject(o.stdout, created, output)
			}
			fmt.Fprintln(o.stdout, created.Token)
			fmt.Fprintf(o.stderr, "Join token %s grants %s until %s (in %s).\n"+
				"It is shown only this once: keep it in a file readable only by the proxy's user.\n",
				created.ID, created.SPIFFEID, created.Expiry.Local().Format(time.RFC3339), shortDuration(time.Until(created.Expiry)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the identity")
	cmd.Flags().StringVar(&serviceAccount, "service-account", "", "service account of the identity (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", apiclient.DefaultJoinTokenTTL, "how long the token can start proxies, from "+tokenTTLRange+"; running proxies do not need it")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: the token alone)")
	return cmd
}

func newTokenListCmd(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the join tokens (never their secrets)",
		Long: `List every join token weftd knows, expired and revoked ones included: its ID (what
'weft token revoke' takes), the identity it grants, when it expires and whether it was
revoked. Secrets are never shown: weftd does not keep them.`,
		Example: `  weft token list
  weft token list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			items, err := c.JoinTokens(ctx)
			if err != nil {
				return fmt.Errorf("listing join tokens: %w", err)
			}
			if output != "" {
				if items == nil {
					items = []apiclient.JoinToken{}
				}
				return printObject(o.stdout, map[string]any{"items": items}, output)
			}
			if len(items) == 0 {
				fmt.Fprintln(o.stderr, "No join tokens found.")
				return nil
			}
			return printTokens(o.stdout, items, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}

func newTokenRevokeCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a join token",
		Long: `Revoke a join token by its ID (see 'weft token list'). From the next call on, weftd
refuses the token: a proxy that uses it can no longer register, renew its lease or obtain a
certificate, and its workload leaves the mesh when its lease runs out.`,
		Example: "  weft token revoke 3f9c0a7be1d24c55",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tok, err := c.RevokeJoinToken(ctx, args[0])
			if err != nil {
				return fmt.Errorf("revoking join token %q: %w", args[0], err)
			}
			fmt.Fprintf(o.stdout, "join token %s (%s) revoked\n", tok.ID, tok.SPIFFEID)
			return nil
		},
	}
}

func checkOutput(format string) error {
	switch format {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use json or yaml", format)
}

// printTokens prints the tokens as a table; now is the time expiries are relative to.
func printTokens(w io.Writer, items []apiclient.JoinToken, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tIDENTITY\tEXPIRES\tSTATUS")
	for _, t := range items {
		expires := "in " + shortDuration(t.Expiry.Sub(now))
		status := "valid"
		if !now.Before(t.Expiry) {
			expires = shortDuration(now.Sub(t.Expiry)) + " ago"
			status = "expired"
		}
		if t.RevokedAt != nil {
			status = "revoked " + shortDuration(now.Sub(*t.RevokedAt)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.SPIFFEID, expires, status)
	}
	return tw.Flush()
}
