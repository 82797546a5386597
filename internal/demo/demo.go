// Package demo implements `weft demo`: weftd, an ingress gateway and a three-service chain,
// started with one command.
package demo

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the `weft demo` command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run weftd, an ingress gateway and a three-service demo on this machine",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not implemented yet")
		},
	}
}
