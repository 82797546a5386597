package demo

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	demoyaml "github.com/weftmesh/weft/examples/demo"
	"github.com/weftmesh/weft/internal/wire"
)

// printRunning tells the user what runs where and what to try.
func (r *runner) printRunning() error {
	files, err := r.nextFiles()
	if err != nil {
		return err
	}
	installed := r.installed != nil
	steps := nextSteps{
		GatewayURL:   r.plan.Gateway.URL(),
		GatewayAdmin: r.plan.Gateway.adminAddr(),
		Files:        files,
	}
	if !installed {
		steps.ConfigExport = r.cfgPath
	}
	for _, w := range r.plan.Workloads {
		if w.Service == "web-api" {
			steps.WebAPIAdmin = w.adminAddr()
		}
	}
	fmt.Fprintln(r.out)
	writeTable(r.out, r.plan)
	fmt.Fprintln(r.out)
	if installed {
		fmt.Fprintf(r.out, "weft talks to this demo through %s until the demo stops.\n", r.cfgPath)
	} else {
		fmt.Fprintf(r.out, "%s is not the demo's: it is left alone.\n", r.opts.ClientConfigPath)
	}
	writeNextSteps(r.out, steps)
	return nil
}

// writeTable prints what runs where.
func writeTable(w io.Writer, p plan) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVERSION\tAPP\tPROXY ADMIN\tPROXY LISTENS ON\tCALLS (THROUGH ITS PROXY)")
	g := p.Gateway
	fmt.Fprintf(tw, "%s (gateway)\t-\t-\t%s\t%s (HTTP)\t%s\n", g.Name, g.adminAddr(), loopback(g.Port), "web-api, as its HTTPRoute says")
	for _, wl := range p.Workloads {
		var calls []string
		for _, u := range wl.Upstreams {
			calls = append(calls, wire.HostPort(u.Service, demoNamespace, demoServicePort)+" at "+loopback(u.LocalPort))
		}
		if len(calls) == 0 {
			calls = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (mTLS)\t%s\n", wl.Service, wl.Version, wl.appAddr(), wl.adminAddr(), loopback(wl.InboundPort), strings.Join(calls, ", "))
	}
	_ = tw.Flush()
}

// nextSteps is what the demo suggests trying.
type nextSteps struct {
	GatewayURL   string
	GatewayAdmin string
	WebAPIAdmin  string
	// ConfigExport, when set, is a client config the user must point WEFT_CONFIG at.
	ConfigExport string
	// Files are the paths of demoyaml.NextFiles(), in that order.
	Files []string
}

// writeNextSteps prints the commands to try.
func writeNextSteps(w io.Writer, s nextSteps) {
	url := strings.TrimPrefix(s.GatewayURL, "http://")
	fmt.Fprintln(w, "\nTry:")
	if s.ConfigExport != "" {
		fmt.Fprintf(w, "  export WEFT_CONFIG=%s\n", s.ConfigExport)
	}
	lines := [][2]string{
		{"curl -s " + url, "the whole chain: ingress -> web-api -> recommendation -> purchase-history"},
		{"for i in $(seq 20); do curl -s " + url + " | grep -o 'recommendation\",\"version\":\"v.'; done | sort | uniq -c",
			"which version of recommendation answered: about 90% v1, 10% v2"},
		{"weft get workloads", "the workloads the sidecars registered, and the routes"},
		{"weft get httproutes", ""},
	}
	if len(s.Files) == 2 {
		lines = append(lines,
			[2]string{"weft apply -f " + s.Files[0], "move the canary to 50/50, then curl again"},
			[2]string{"weft apply -f " + s.Files[1], "send every call to v2"},
		)
	}
	lines = append(lines,
		[2]string{"curl -s " + s.GatewayAdmin + "/config_dump", "the configuration the gateway runs, as it received it over xDS"},
	)
	if s.WebAPIAdmin != "" {
		lines = append(lines, [2]string{"curl -s " + s.WebAPIAdmin + "/stats/prometheus", "the metrics of web-api's sidecar"})
	}
	for _, l := range lines {
		if l[1] != "" {
			fmt.Fprintf(w, "  # %s\n", l[1])
		}
		fmt.Fprintf(w, "  %s\n", l[0])
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop the demo.")
}

// nextFiles returns paths the user can `weft apply -f`: examples/demo/... when run from the
// source tree, else copies written to the demo's work directory.
func (r *runner) nextFiles() ([]string, error) {
	names := demoyaml.NextFiles()
	if wd, err := os.Getwd(); err == nil {
		if allExist(filepath.Join(wd, "examples", "demo"), names) {
			return prefixed("examples/demo/", names), nil
		}
		if root, err := findModuleRoot(wd); err == nil && allExist(filepath.Join(root, "examples", "demo"), names) {
			return prefixed(filepath.Join(root, "examples", "demo")+string(filepath.Separator), names), nil
		}
	}
	dir := filepath.Join(r.workDir, "examples")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("writing the demo's example files: %w", err)
	}
	var paths []string
	for _, n := range names {
		data, err := fs.ReadFile(demoyaml.FS, n)
		if err != nil {
			return nil, fmt.Errorf("reading the demo's example files: %w", err)
		}
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, fmt.Errorf("writing the demo's example files: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func allExist(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
