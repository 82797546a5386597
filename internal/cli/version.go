package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/version"
)

func newVersionCmd(o *options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the weft and weftd versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(o.stdout, "weft  %s\n", version.String())
			if clientOnly {
				return nil
			}
			c, err := o.client()
			if err != nil {
				fmt.Fprintf(o.stdout, "weftd unknown (%v)\n", err)
				return nil
			}
			defer c.Close()
			ctx, cancel := o.context(cmd.Context())
			defer cancel()
			v, err := c.Version(ctx)
			if err != nil {
				fmt.Fprintf(o.stdout, "weftd unreachable (%v)\n", err)
				return nil
			}
			fmt.Fprintf(o.stdout, "weftd %s\n", v.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version")
	return cmd
}
