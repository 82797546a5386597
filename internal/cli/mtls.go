package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

func newMTLSCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mtls",
		Short: "Mutual TLS: who still sends plaintext, and whether STRICT is safe",
	}
	cmd.AddCommand(newMTLSReportCmd(o))
	return cmd
}

// Verdicts of the report.
const (
	verdictReady    = "ready for STRICT"
	verdictBreaks   = "switching to STRICT would break: "
	verdictStrict   = "STRICT in force"
	verdictDisable  = "DISABLE: callers send plaintext, their proxies too; switch to PERMISSIVE first, then read this report again"
	verdictNoReport = "unknown: "
)

func newMTLSReportCmd(o *options) *cobra.Command {
	var namespace, output string
	var since, proxyTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "report",
		Short: "For each workload and service port: the mTLS mode, the plaintext peers, and whether STRICT is safe",
		Long: `For each registered workload and each of its service ports, report the mutual TLS mode in
force (and the MTLSPolicy that sets it), the peers that sent plaintext to that port recently
(as the workload's proxy saw them, from its admin endpoint /mtls/plaintext), and a verdict:

  ready for STRICT                        no plaintext was seen: STRICT cuts nobody off
  switching to STRICT would break: ...    these peers would be refused
  STRICT in force                         plaintext is already refused
  DISABLE: ...                            the port takes plaintext only: move it to PERMISSIVE first
  unknown: ...                            the proxy's admin endpoint could not be read

A proxy's admin endpoint is on its loopback interface: run the report on the machine of the
proxies. A proxy it cannot reach is reported as such, never skipped. The exit code is 0
whatever the verdicts.`,
		Example: `  weft mtls report
  weft mtls report -n shop --since 24h
  weft mtls report -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "", "table", "json":
			default:
				return fmt.Errorf("unknown output format %q: use table or json", output)
			}
			if since <= 0 {
				return fmt.Errorf("--since %s: must be positive", since)
			}
			in, err := o.mtlsInputs(cmd.Context(), namespace, proxyTimeout)
			if err != nil {
				return err
			}
			rep := buildMTLSReport(in, since, time.Now())
			if output == "json" {
				return printObject(o.stdout, rep, "json")
			}
			return printMTLSReport(o.stdout, rep)
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "only the workloads of this namespace (default: all)")
	cmd.Flags().DurationVar(&since, "since", time.Hour, "how recent a plaintext peer must be to count")
	cmd.Flags().DurationVar(&proxyTimeout, "proxy-timeout", 3*time.Second, "how long to wait for each proxy's admin endpoint")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: table or json")
	return cmd
}

// mtlsInputs is what the report is computed from.
type mtlsInputs struct {
	workloads []wire.Workload
	services  map[mesh.NamespacedName]*v1alpha1.Service
	policies  []*v1alpha1.MTLSPolicy
	// proxies holds each workload's plaintext report, or the error reading it, by workload ID.
	proxies map[string]proxyAnswer
}

type proxyAnswer struct {
	report wire.PlaintextReport
	err    error
}

// mtlsInputs reads the workloads, Services and MTLSPolicies from weftd and each workload's
// plaintext report from its proxy.
func (o *options) mtlsInputs(parent context.Context, namespace string, proxyTimeout time.Duration) (*mtlsInputs, error) {
	ctx, c, done, err := o.connect(parent)
	if err != nil {
		return nil, err
	}
	defer done()
	in := &mtlsInputs{services: map[mesh.NamespacedName]*v1alpha1.Service{}, proxies: map[string]proxyAnswer{}}
	workloads, err := c.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range workloads {
		if w.Proxyless || (namespace != "" && w.Namespace != namespace) {
			continue
		}
		in.workloads = append(in.workloads, w)
	}
	for _, kind := range []string{"services", "mtlspolicies"} {
		items, err := c.List(ctx, kind, "")
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", kind, err)
		}
		for _, raw := range items {
			r, err := mesh.DecodeStored(raw)
			if err != nil {
				return nil, fmt.Errorf("reading %s from weftd: %w", kind, err)
			}
			switch obj := r.Object.(type) {
			case *v1alpha1.Service:
				in.services[mesh.NamespacedName{Namespace: r.Namespace, Name: r.Name}] = obj
			case *v1alpha1.MTLSPolicy:
				in.policies = append(in.policies, obj)
			}
		}
	}
	in.proxies = fetchPlaintextReports(parent, in.workloads, proxyTimeout)
	return in, nil
}

// fetchPlaintextReports reads GET /mtls/plaintext of every workload's proxy, a few at a time.
func fetchPlaintextReports(ctx context.Context, workloads []wire.Workload, timeout time.Duration) map[string]proxyAnswer {
	client := &http.Client{Timeout: timeout}
	defer client.CloseIdleConnections()
	out := make(map[string]proxyAnswer, len(workloads))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, w := range workloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep, err := fetchPlaintextReport(ctx, client, w.AdminAddress)
			mu.Lock()
			out[w.ID] = proxyAnswer{report: rep, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func fetchPlaintextReport(ctx context.Context, client *http.Client, adminAddr string) (wire.PlaintextReport, error) {
	var rep wire.PlaintextReport
	if adminAddr == "" {
		return rep, fmt.Errorf("the workload registered no admin address")
	}
	url := "http://" + adminAddr + "/mtls/plaintext"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return rep, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return rep, fmt.Errorf("cannot reach the proxy's admin endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return rep, fmt.Errorf("GET %s: reading the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("GET %s answered %s: %s (a proxy older than this weft?)", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, fmt.Errorf("GET %s: decoding the answer: %w", url, err)
	}
	return rep, nil
}

// MTLSReport is the output of `weft mtls report` (its JSON form with -o json).
type MTLSReport struct {
	// Since is how recent a plaintext peer must be to count.
	Since     string           `json:"since"`
	Workloads []WorkloadReport `json:"workloads"`
}

// WorkloadReport is one workload of the report.
type WorkloadReport struct {
	ID           string `json:"id"`
	Service      string `json:"service"`
	Namespace    string `json:"namespace"`
	AdminAddress string `json:"adminAddress"`
	// ProxyError says why the proxy's plaintext report could not be read; empty when it was.
	ProxyError string       `json:"proxyError,omitempty"`
	Ports      []PortReport `json:"ports"`
}

// PortReport is one service port of a workload.
type PortReport struct {
	Port int32 `json:"port"`
	// Mode is STRICT, PERMISSIVE or DISABLE; SetBy is the MTLSPolicy that sets it, or
	// "default" when none does.
	Mode  string `json:"mode"`
	SetBy string `json:"setBy"`
	// PlaintextPeers sent plaintext to the port recently, most recent first.
	PlaintextPeers []PlaintextPeer `json:"plaintextPeers"`
	// ReadyForStrict is true when switching the port to STRICT cuts nobody off (or it is
	// STRICT already).
	ReadyForStrict bool   `json:"readyForStrict"`
	Verdict        string `json:"verdict"`
}

// PlaintextPeer is one peer that sent plaintext to a port.
type PlaintextPeer struct {
	Address   string    `json:"address"`
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// LastSeenAgo is how long before the report it was last seen, by the proxy's clock.
	LastSeenAgo string `json:"lastSeenAgo"`
}

// buildMTLSReport computes the report; now is used only when a proxy gave no time.
func buildMTLSReport(in *mtlsInputs, since time.Duration, now time.Time) MTLSReport {
	rep := MTLSReport{Since: since.String(), Workloads: []WorkloadReport{}}
	workloads := slices.Clone(in.workloads)
	slices.SortFunc(workloads, func(a, b wire.Workload) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.ID, b.ID))
	})
	for _, w := range workloads {
		wr := WorkloadReport{ID: w.ID, Service: w.Service, Namespace: w.Namespace, AdminAddress: w.AdminAddress, Ports: []PortReport{}}
		ans, ok := in.proxies[w.ID]
		if !ok {
			ans.err = fmt.Errorf("the proxy was not asked")
		}
		if ans.err != nil {
			wr.ProxyError = ans.err.Error()
		}
		proxyNow := ans.report.Now
		if proxyNow.IsZero() {
			proxyNow = now
		}
		for _, port := range workloadPorts(w, in.services) {
			m := mesh.EffectiveMTLSMode(in.policies, w.Namespace, w.Service, port)
			pr := PortReport{Port: port, Mode: m.Mode, SetBy: setBy(m), PlaintextPeers: []PlaintextPeer{}}
			for _, s := range ans.report.Sources {
				if s.Port != port || proxyNow.Sub(s.LastSeen) > since {
					continue
				}
				pr.PlaintextPeers = append(pr.PlaintextPeers, PlaintextPeer{
					Address: s.Address, Count: s.Count, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen,
					LastSeenAgo: shortDuration(proxyNow.Sub(s.LastSeen)),
				})
			}
			pr.PlaintextPeers = mergePeers(pr.PlaintextPeers)
			pr.ReadyForStrict, pr.Verdict = verdict(m.Mode, pr.PlaintextPeers, ans.err, w.AdminAddress)
			wr.Ports = append(wr.Ports, pr)
		}
		rep.Workloads = append(rep.Workloads, wr)
	}
	return rep
}

// workloadPorts are the service ports a workload serves: those it registered, else every port
// of its Service.
func workloadPorts(w wire.Workload, services map[mesh.NamespacedName]*v1alpha1.Service) []int32 {
	ports := slices.Clone(w.Ports)
	if len(ports) == 0 {
		if svc := services[mesh.NamespacedName{Namespace: w.Namespace, Name: w.Service}]; svc != nil {
			for _, p := range svc.Spec.Ports {
				ports = append(ports, p.Port)
			}
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// mergePeers merges the rows of one address (seen on several listeners: the shared inbound
// port and a dedicated one), most recent first.
func mergePeers(peers []PlaintextPeer) []PlaintextPeer {
	byAddr := map[string]int{}
	var out []PlaintextPeer
	for _, p := range peers {
		i, ok := byAddr[p.Address]
		if !ok {
			byAddr[p.Address] = len(out)
			out = append(out, p)
			continue
		}
		m := &out[i]
		m.Count += p.Count
		if p.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = p.FirstSeen
		}
		if p.LastSeen.After(m.LastSeen) {
			m.LastSeen, m.LastSeenAgo = p.LastSeen, p.LastSeenAgo
		}
	}
	slices.SortStableFunc(out, func(a, b PlaintextPeer) int { return b.LastSeen.Compare(a.LastSeen) })
	if out == nil {
		out = []PlaintextPeer{}
	}
	return out
}

func setBy(m mesh.MTLSMode) string {
	switch m.Level {
	case mesh.MTLSLevelDefault, "":
		return "default (no MTLSPolicy)"
	case mesh.MTLSLevelPort:
		return "MTLSPolicy " + m.Policy + " (port)"
	}
	return "MTLSPolicy " + m.Policy + " (" + m.Level + ")"
}

func verdict(mode string, peers []PlaintextPeer, proxyErr error, admin string) (bool, string) {
	switch {
	case mode == v1alpha1.MTLSModeStrict:
		return true, verdictStrict
	case mode == v1alpha1.MTLSModeDisable:
		return false, verdictDisable
	case proxyErr != nil:
		return false, verdictNoReport + "the proxy's plaintext peers could not be read from " + admin
	case len(peers) == 0:
		return true, verdictReady
	}
	parts := make([]string, len(peers))
	for i, p := range peers {
		noun := "connections"
		if p.Count == 1 {
			noun = "connection"
		}
		parts[i] = fmt.Sprintf("%s (%d %s, last %s ago)", p.Address, p.Count, noun, p.LastSeenAgo)
	}
	return false, verdictBreaks + strings.Join(parts, ", ")
}

// printMTLSReport renders the report as a table, then the proxies that could not be read.
func printMTLSReport(w io.Writer, rep MTLSReport) error {
	if len(rep.Workloads) == 0 {
		_, err := fmt.Fprintln(w, "No workloads registered.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tSERVICE\tPORT\tMODE\tSET BY\tVERDICT")
	var unreachable []WorkloadReport
	for _, wr := range rep.Workloads {
		if wr.ProxyError != "" {
			unreachable = append(unreachable, wr)
		}
		svc := wr.Service + "." + wr.Namespace
		if len(wr.Ports) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\tserves no port\n", wr.ID, svc)
		}
		for _, p := range wr.Ports {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", wr.ID, svc, p.Port, p.Mode, p.SetBy, p.Verdict)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unreachable) > 0 {
		fmt.Fprintln(w, "\nProxies whose plaintext peers could not be read:")
		for _, wr := range unreachable {
			fmt.Fprintf(w, "  %s (admin %s): %s\n", wr.ID, wr.AdminAddress, wr.ProxyError)
		}
	}
	_, err := fmt.Fprintf(w, "\nPlaintext peers count when seen in the last %s (--since).\n", rep.Since)
	return err
}
