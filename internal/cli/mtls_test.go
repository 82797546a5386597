package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// fakeProxyAdmin serves a plaintext report on 127.0.0.1 and returns its address.
func fakeProxyAdmin(t *testing.T, rep wire.PlaintextReport) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mtls/plaintext" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(rep)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// fakeMTLSWeftd serves the workloads, Services and MTLSPolicies the report reads.
func fakeMTLSWeftd(workloads []wire.Workload, services, policies string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/workloads", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(apiclient.WorkloadList{Items: workloads})
	})
	mux.HandleFunc("GET /v1/resources/services", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"items":[` + services + `]}`))
	})
	mux.HandleFunc("GET /v1/resources/mtlspolicies", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"items":[` + policies + `]}`))
	})
	return mux
}

// runMTLSReport runs `weft mtls report` against a fake weftd.
func runMTLSReport(t *testing.T, api http.Handler, args ...string) string {
	t.Helper()
	stdout, stderr, err := runWeft(t, api, append([]string{"mtls", "report"}, args...)...)
	if err != nil {
		t.Fatalf("weft mtls report: %v\n%s", err, stderr)
	}
	return stdout
}

func TestMTLSReport(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	webAdmin := fakeProxyAdmin(t, wire.PlaintextReport{Now: now, Sources: []wire.PlaintextSource{
		{Address: "127.0.0.1", Listener: "inbound", Port: 8080, Count: 10, FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-30 * time.Second)},
		{Address: "127.0.0.1", Listener: "inbound|8080", Port: 8080, Count: 2, FirstSeen: now.Add(-time.Minute), LastSeen: now.Add(-40 * time.Second)},
		{Address: "10.1.2.3", Listener: "inbound", Port: 8080, Count: 1, FirstSeen: now.Add(-3 * time.Hour), LastSeen: now.Add(-2 * time.Hour)},
		{Address: "10.9.9.9", Listener: "inbound", Port: 9090, Count: 5, FirstSeen: now.Add(-time.Minute), LastSeen: now.Add(-time.Minute)},
	}})
	quietAdmin := fakeProxyAdmin(t, wire.PlaintextReport{Now: now, Sources: []wire.PlaintextSource{}})
	workloads := []wire.Workload{
		{ID: "web-1.shop", Service: "web", Namespace: "shop", Ports: []int32{8080, 9090}, AdminAddress: webAdmin},
		{ID: "db-1.shop", Service: "db", Namespace: "shop", AdminAddress: quietAdmin},
		{ID: "api-1.shop", Service: "api", Namespace: "shop", Ports: []int32{80}, AdminAddress: closedAddr(t)},
		{ID: "pay-1.billing", Service: "pay", Namespace: "billing", Ports: []int32{443}, AdminAddress: closedAddr(t)},
	}
	services := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"db","namespace":"shop"},"spec":{"ports":[{"port":5432,"appProtocol":"tcp"}]}}`
	policies := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"MTLSPolicy","metadata":{"name":"ns","namespace":"shop"},"spec":{"targetRef":{"kind":"Namespace","name":"shop"},"mode":"PERMISSIVE"}},` +
		`{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"MTLSPolicy","metadata":{"name":"web","namespace":"shop"},"spec":{"targetRef":{"kind":"Service","name":"web"},"mode":"PERMISSIVE","ports":[{"port":9090,"mode":"DISABLE"}]}}`
	api := fakeMTLSWeftd(workloads, services, policies)

	var rep MTLSReport
	if err := json.Unmarshal([]byte(runMTLSReport(t, api, "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	peer := PlaintextPeer{Address: "127.0.0.1", Count: 12, FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-30 * time.Second), LastSeenAgo: "30s"}
	want := MTLSReport{Since: "1h0m0s", Workloads: []WorkloadReport{
		{ID: "pay-1.billing", Service: "pay", Namespace: "billing", Ports: []PortReport{
			{Port: 443, Mode: "STRICT", SetBy: "default (no MTLSPolicy)", PlaintextPeers: []PlaintextPeer{}, ReadyForStrict: true, Verdict: "STRICT in force"},
		}},
		{ID: "api-1.shop", Service: "api", Namespace: "shop", Ports: []PortReport{
			{Port: 80, Mode: "PERMISSIVE", SetBy: "MTLSPolicy shop/ns (Namespace)", PlaintextPeers: []PlaintextPeer{}, ReadyForStrict: false},
		}},
		{ID: "db-1.shop", Service: "db", Namespace: "shop", AdminAddress: quietAdmin, Ports: []PortReport{
			{Port: 5432, Mode: "PERMISSIVE", SetBy: "MTLSPolicy shop/ns (Namespace)", PlaintextPeers: []PlaintextPeer{}, ReadyForStrict: true, Verdict: "ready for STRICT"},
		}},
		{ID: "web-1.shop", Service: "web", Namespace: "shop", AdminAddress: webAdmin, Ports: []PortReport{
			{Port: 8080, Mode: "PERMISSIVE", SetBy: "MTLSPolicy shop/web (Service)", PlaintextPeers: []PlaintextPeer{peer},
				Verdict: "switching to STRICT would break: 127.0.0.1 (12 connections, last 30s ago)"},
			{Port: 9090, Mode: "DISABLE", SetBy: "MTLSPolicy shop/web (port)", PlaintextPeers: []PlaintextPeer{
				{Address: "10.9.9.9", Count: 5, FirstSeen: now.Add(-time.Minute), LastSeen: now.Add(-time.Minute), LastSeenAgo: "1m"},
			}, Verdict: verdictDisable},
		}},
	}}
	ignore := cmpopts.IgnoreFields(WorkloadReport{}, "AdminAddress", "ProxyError")
	if diff := cmp.Diff(want, rep, ignore, cmpopts.IgnoreFields(PortReport{}, "Verdict")); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	for _, w := range rep.Workloads {
		unreachable := w.ID == "api-1.shop" || w.ID == "pay-1.billing"
		if (w.ProxyError != "") != unreachable {
			t.Errorf("%s: proxy error %q, want one exactly when the proxy cannot be reached", w.ID, w.ProxyError)
		}
	}
	if v := rep.Workloads[1].Ports[0].Verdict; !strings.HasPrefix(v, "unknown: the proxy's plaintext peers could not be read from 127.0.0.1:") {
		t.Errorf("unreachable PERMISSIVE proxy: verdict %q", v)
	}
	if v := rep.Workloads[3].Ports[0].Verdict; v != want.Workloads[3].Ports[0].Verdict {
		t.Errorf("verdict %q, want %q", v, want.Workloads[3].Ports[0].Verdict)
	}

	// The table says the same, and names the proxies it could not read.
	table := runMTLSReport(t, api, "-n", "shop")
	for _, line := range []string{
		"web-1.shop   web.shop   8080   PERMISSIVE   MTLSPolicy shop/web (Service)    switching to STRICT would break: 127.0.0.1 (12 connections, last 30s ago)",
		"db-1.shop    db.shop    5432   PERMISSIVE   MTLSPolicy shop/ns (Namespace)   ready for STRICT",
		"Proxies whose plaintext peers could not be read:",
		"  api-1.shop (admin 127.0.0.1:",
	} {
		if !strings.Contains(table, line) {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
	if strings.Contains(table, "pay-1.billing") {
		t.Errorf("-n shop shows another namespace:\n%s", table)
	}
}
