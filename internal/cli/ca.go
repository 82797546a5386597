package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/apiclient"
)

// caPollInterval is how often `weft ca rotate --wait` asks weftd how the rotation goes
// (tests shorten it).
var caPollInterval = time.Second

func newCACmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Show the mesh's certificate authority, or rotate it",
		Long: `The mesh's certificate authority (CA) signs every workload certificate. weftd starts with a
built-in root, meant for development; 'weft ca rotate' moves the mesh to a new built-in root, or
to an intermediate CA of your organisation's PKI, without breaking a connection. See
docs/security-ca.md.`,
	}
	cmd.AddCommand(newCAStatusCmd(o), newCARotateCmd(o))
	return cmd
}

func newCAStatusCmd(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the CA that signs, the trust bundle's roots and the rotation in progress",
		Example: `  weft ca status
  weft ca status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			st, err := c.CAStatus(ctx)
			if err != nil {
				return fmt.Errorf("reading the CA status: %w", err)
			}
			switch output {
			case "json", "yaml":
				return printObject(o.stdout, st, output)
			case "", "table":
				return printCAStatus(o.stdout, st)
			}
			return fmt.Errorf("--output %q: want table, json or yaml", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: table, json or yaml")
	return cmd
}

func newCARotateCmd(o *options) *cobra.Command {
	var (
		req         apiclient.CARotateRequest
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rotate (--builtin | --cert-file FILE --key-file FILE [--chain-file FILE] --root-file FILE)",
		Short: "Move the mesh to a new CA without breaking connections",
		Long: `Rotate the mesh's CA: to a new built-in root (--builtin), or to an intermediate CA of your
organisation's PKI (--cert-file, --key-file, --root-file and, if the CA is not signed by the
root itself, --chain-file). The files are read by weftd: give absolute paths on weftd's machine.
weftd checks the new CA first and refuses a key file that other users can read, a certificate
that is not a CA, a key that is not the certificate's, or a certificate that does not chain to
the root file.

The rotation then runs in weftd, and survives its restart:
  trust    the new roots join every proxy's trust bundle; weftd waits until every connected
           proxy has applied it
  reissue  the new CA signs; proxies are told to renew their certificates; weftd waits until
           no workload holds a certificate of the old CA
  retire   the old roots leave the trust bundle; once every proxy has applied it, the rotation
           is done and the Mesh's spec.ca names the new CA
'weft ca status' shows the phase and who it waits for.`,
		Example: `  weft ca rotate --builtin --wait
  weft ca rotate --cert-file /etc/weft/pki/mesh-ca.pem --key-file /etc/weft/pki/mesh-ca-key.pem \
      --chain-file /etc/weft/pki/chain.pem --root-file /etc/weft/pki/root.pem --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRotateFlags(req); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := o.context(cmd.Context())
			st, err := c.RotateCA(ctx, &req)
			cancel()
			if err != nil {
				return fmt.Errorf("starting the CA rotation: %w", err)
			}
			to := st.Signing
			if st.Target != nil {
				to = *st.Target
			}
			fmt.Fprintf(o.stdout, "CA rotation started, to %s.\n", describeSource(to))
			if !wait {
				fmt.Fprintln(o.stdout, "It runs in weftd: follow it with 'weft ca status'.")
				return nil
			}
			return waitRotation(cmd.Context(), o, c, st, waitTimeout)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.Builtin, "builtin", false, "rotate to a new built-in root (for development)")
	f.StringVar(&req.CertFile, "cert-file", "", "PEM certificate of the intermediate CA (absolute path on weftd's machine)")
	f.StringVar(&req.KeyFile, "key-file", "", "PEM private key of that CA, readable by weftd's user only")
	f.StringVar(&req.ChainFile, "chain-file", "", "PEM certificates between that CA and the root, if any")
	f.StringVar(&req.RootFile, "root-file", "", "PEM root certificate(s) the peers trust")
	f.BoolVar(&wait, "wait", false, "wait until the rotation is done, printing its progress")
	f.DurationVar(&waitTimeout, "wait-timeout", 10*time.Minute, "with --wait: how long to wait")
	return cmd
}

// checkRotateFlags says what is missing from the flags before weftd is asked.
func checkRotateFlags(req apiclient.CARotateRequest) error {
	files := req.CertFile != "" || req.KeyFile != "" || req.ChainFile != "" || req.RootFile != ""
	switch {
	case req.Builtin && files:
		return errors.New("give either --builtin or the files of a CA (--cert-file, --key-file, --root-file), not both")
	case req.Builtin:
		return nil
	case !files:
		return errors.New("name the CA to rotate to: --builtin, or --cert-file, --key-file, --root-file (and --chain-file if needed)")
	}
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--cert-file", req.CertFile}, {"--key-file", req.KeyFile}, {"--root-file", req.RootFile}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a CA from files needs %s", strings.Join(missing, " and "))
	}
	return nil
}

// waitRotation polls the CA status until the rotation is done, printing each change.
func waitRotation(parent context.Context, o *options, c *apiclient.Client, st *apiclient.CAStatus, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if st.Phase == "idle" {
			fmt.Fprintf(o.stdout, "CA rotation done: %s signs, and every proxy trusts its roots only.\n", describeSource(st.Signing))
			return nil
		}
		if line := progressLine(st); line != last {
			fmt.Fprintln(o.stdout, line)
			last = line
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CA rotation is not done after %s; it goes on in weftd (phase %s): see 'weft ca status'", timeout, st.Phase)
		}
		t := time.NewTimer(caPollInterval)
		select {
		case <-parent.Done():
			t.Stop()
			return fmt.Errorf("stopped waiting; the CA rotation goes on in weftd: %w", parent.Err())
		case <-t.C:
		}
		ctx, cancel := o.context(parent)
		next, err := c.CAStatus(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(o.stderr, "reading the CA status failed (retrying): %v\n", err)
			continue
		}
		st = next
	}
}

// phaseText says what a phase does.
var phaseText = map[string]string{
	"idle":    "no rotation in progress",
	"trust":   "the new roots join every proxy's trust bundle; the old CA still signs",
	"reissue": "the new CA signs; proxies renew their certificates",
	"retire":  "the old roots leave every proxy's trust bundle",
}

func progressLine(st *apiclient.CAStatus) string {
	line := fmt.Sprintf("phase %s: %s", st.Phase, phaseText[st.Phase])
	if st.LaggingTotal > 0 {
		line += fmt.Sprintf(" (waiting for %d: %s)", st.LaggingTotal, laggardNames(st.Lagging, 3))
	}
	if st.Error != "" {
		line += "; blocked: " + st.Error
	}
	return line
}

func laggardNames(l []apiclient.CALaggard, n int) string {
	var names []string
	for i, x := range l {
		if i == n {
			names = append(names, "...")
			break
		}
		names = append(names, x.Kind+" "+x.ID)
	}
	return strings.Join(names, ", ")
}

func describeSource(s apiclient.CASource) string {
	switch s.Type {
	case "builtin":
		return "a built-in root (" + s.Dir + ")"
	case "files":
		d := "the CA of " + s.CertFile
		if s.ChainFile != "" {
			d += ", chain " + s.ChainFile
		}
		return d + ", root " + s.RootFile
	}
	return s.Type
}

// printCAStatus renders the status for people.
func printCAStatus(w io.Writer, st *apiclient.CAStatus) error {
	fmt.Fprintf(w, "Signing CA:  %s\n", describeSource(st.Signing))
	fmt.Fprintf(w, "Issuer:      %s (expires %s)\n", st.Issuer.Subject, st.Issuer.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "Rotation:    %s\n", progressLine(st))
	if st.Started != nil && st.PhaseSince != nil {
		fmt.Fprintf(w, "             started %s, in this phase since %s\n", st.Started.Format(time.RFC3339), st.PhaseSince.Format(time.RFC3339))
	}
	if st.Target != nil {
		fmt.Fprintf(w, "Moving to:   %s\n", describeSource(*st.Target))
	}
	if st.Previous != nil {
		fmt.Fprintf(w, "Moving from: %s\n", describeSource(*st.Previous))
	}
	fmt.Fprintf(w, "\nTrust bundle (%d roots):\n", len(st.Roots))
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "  SUBJECT\tSHA-256 FINGERPRINT\tEXPIRES\tROLE\tSIGNS")
	for _, r := range st.Roots {
		signs := "-"
		if r.Signs {
			signs = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.Subject, r.Fingerprint, r.NotAfter.Format(time.RFC3339), r.Role, signs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.LaggingTotal > 0 {
		fmt.Fprintf(w, "\nWaiting for %d:\n", st.LaggingTotal)
		for _, l := range st.Lagging {
			fmt.Fprintf(w, "  %s %s: %s\n", l.Kind, l.ID, l.Reason)
		}
		if more := st.LaggingTotal - len(st.Lagging); more > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", more)
		}
	}
	return nil
}
