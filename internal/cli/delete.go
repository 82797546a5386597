package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newDeleteCmd(o *options) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:     "delete KIND NAME",
		Short:   "Delete a resource",
		Long:    "Delete a resource. weftd refuses to delete a Service that a route still refers to.",
		Example: "  weft delete httproute recommendation",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := lookupKind(args[0])
			if err != nil {
				return err
			}
			if k.Plural == "workloads" {
				return fmt.Errorf("workloads are registered by their proxies and leave when the proxy stops; they cannot be deleted")
			}
			ns := namespace
			if k.ClusterScoped {
				ns = "-"
			}
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := c.Delete(ctx, k.Plural, ns, args[1]); err != nil {
				return fmt.Errorf("deleting %s %q: %w", k.Kind, args[1], err)
			}
			fmt.Fprintf(o.stdout, "%s/%s deleted\n", strings.ToLower(k.Kind), args[1])
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace")
	return cmd
}
