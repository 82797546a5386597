package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/internal/apiclient"
)

func newApplyCmd(o *options) *cobra.Command {
	var files []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update resources from YAML or JSON files",
		Long: `Create or update resources from YAML or JSON files.

Every resource is validated by weftd before anything is stored: an unknown kind or field, a
value out of range, or a route to a Service that does not exist is refused with an error
naming the file, the resource and the field. An apply is all or nothing: if one resource is
refused, none is stored.`,
		Example: `  weft apply -f examples/demo/canary-50-50.yaml
  weft apply -f examples/demo/
  cat route.yaml | weft apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) == 0 {
				return errors.New("no input: pass -f FILE, -f DIR or -f -")
			}
			docs, err := readManifests(files, o.stdin)
			if err != nil {
				return err
			}
			req := &apiclient.ApplyRequest{DryRun: dryRun}
			for _, d := range docs {
				req.Resources = append(req.Resources, d.JSON)
				req.Sources = append(req.Sources, d.Source)
			}
			ctx, c, done, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Apply(ctx, req)
			if err != nil {
				return fmt.Errorf("apply refused, nothing was stored:\n  %w", err)
			}
			suffix := ""
			if dryRun {
				suffix = " (dry run)"
			}
			for _, r := range resp.Results {
				fmt.Fprintf(o.stdout, "%s/%s %s%s\n", strings.ToLower(r.Kind), qualified(r.Namespace, r.Name), r.Action, suffix)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) to apply; repeatable")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate only; store nothing")
	return cmd
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// meta is the part of a resource the CLI reads for its tables.
type meta struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name              string `json:"name"`
		Namespace         string `json:"namespace"`
		Generation        int64  `json:"generation"`
		CreationTimestamp string `json:"creationTimestamp"`
	} `json:"metadata"`
}

func readMeta(raw json.RawMessage) meta {
	var m meta
	_ = json.Unmarshal(raw, &m)
	return m
}
