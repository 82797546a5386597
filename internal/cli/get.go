package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/internal/wire"
)

func newGetCmd(o *options) *cobra.Command {
	var namespace, output string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show resources or registered workloads",
		Long: `Show resources (meshes, services, httproutes, gateways, mtlspolicies,
authorizationpolicies) or the registered workloads.

Without -o, a table. With -o yaml or -o json, the full objects as stored (a list is
{"items": [...]}).`,
		Example: `  weft get services
  weft get httproute recommendation -o yaml
  weft get workloads -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := lookupKind(args[0])
			if err != nil {
				return err
			}
			switch output {
			case "", "table", "wide", "yaml", "json":
			default:
				return fmt.Errorf("unknown output format %q: use yaml, json or table", output)
			}
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()

			if k.Plural == "workloads" {
				items, err := c.Workloads(ctx)
				if err != nil {
					return err
				}
				items = filterWorkloads(items, args, namespace, allNamespaces)
				if len(args) == 2 && len(items) == 0 {
					return fmt.Errorf("workload %q not found", args[1])
				}
				return printWorkloads(o.stdout, items, output)
			}

			ns := namespace
			if k.ClusterScoped {
				ns = ""
			}
			if len(args) == 2 {
				if k.ClusterScoped {
					ns = "-"
				}
				raw, err := c.Get(ctx, k.Plural, ns, args[1])
				if err != nil {
					return fmt.Errorf("%s %q: %w", k.Kind, qualified(strings.Trim(ns, "-"), args[1]), err)
				}
				if output == "" || output == "table" || output == "wide" {
					return printTable(o.stdout, k, []json.RawMessage{raw})
				}
				return printObject(o.stdout, raw, output)
			}
			if allNamespaces {
				ns = ""
			}
			items, err := c.List(ctx, k.Plural, ns)
			if err != nil {
				return err
			}
			switch output {
			case "yaml", "json":
				return printObject(o.stdout, map[string]any{"items": items}, output)
			}
			if len(items) == 0 {
				fmt.Fprintf(o.stderr, "No %s found.\n", k.Plural)
				return nil
			}
			return printTable(o.stdout, k, items)
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml, json or table")
	return cmd
}

func filterWorkloads(items []wire.Workload, args []string, namespace string, all bool) []wire.Workload {
	var out []wire.Workload
	for _, w := range items {
		if len(args) == 2 && w.ID != args[1] {
			continue
		}
		if len(args) < 2 && !all && w.Namespace != namespace {
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func printObject(w io.Writer, v any, format string) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	if format == "yaml" {
		data, err = yaml.JSONToYAML(data)
		if err != nil {
			return fmt.Errorf("encoding output: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

func printTable(w io.Writer, k kind, items []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if k.ClusterScoped {
		fmt.Fprintln(tw, "NAME\tGENERATION\tAGE")
	} else {
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tGENERATION\tAGE")
	}
	for _, raw := range items {
		m := readMeta(raw)
		age := "-"
		if t, err := time.Parse(time.RFC3339, m.Metadata.CreationTimestamp); err == nil {
			age = shortDuration(time.Since(t))
		}
		if k.ClusterScoped {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", m.Metadata.Name, m.Metadata.Generation, age)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", m.Metadata.Namespace, m.Metadata.Name, m.Metadata.Generation, age)
		}
	}
	return tw.Flush()
}

func printWorkloads(w io.Writer, items []wire.Workload, format string) error {
	switch format {
	case "json", "yaml":
		if items == nil {
			items = []wire.Workload{}
		}
		return printObject(w, map[string]any{"items": items}, format)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tSERVICE\tVERSION\tADDRESS\tADMIN\tIDENTITY\tCERT EXPIRES")
	for _, wl := range items {
		version := wl.Version
		if version == "" {
			version = "-"
		}
		expiry := "-"
		if wl.CertExpiry != nil {
			if left := time.Until(*wl.CertExpiry); left >= 0 {
				expiry = "in " + shortDuration(left)
			} else {
				expiry = "expired " + shortDuration(left) + " ago"
			}
		}
		admin := wl.AdminAddress
		if admin == "" {
			admin = "-"
		}
		service, address := wl.Service, wl.Address+":"+strconv.Itoa(int(wl.InboundPort))
		if wl.Gateway { // registered for its certificate; it serves no Service
			service, address = "gateway/"+wl.Service, wl.Address
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", wl.ID, service, version,
			address, admin, wl.SPIFFEID, expiry)
	}
	return tw.Flush()
}

// shortDuration renders a duration the way kubectl shows ages: 45s, 3m, 5h, 2d.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
