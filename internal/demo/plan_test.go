package demo

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func seqPorts(from, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = from + i
	}
	return ports
}

func TestNewPlanUsesEveryPortOnce(t *testing.T) {
	n := portsNeeded(demoApps)
	if want := 2 + 4*3 + 3; n != want { // gateway 2; 4 workloads x 3; 3 outbound listeners
		t.Errorf("portsNeeded = %d, want %d", n, want)
	}
	p, err := newPlan(demoApps, "ingress", 8080, seqPorts(20000, n))
	if err != nil {
		t.Fatal(err)
	}
	used := []int{p.Gateway.Port, p.Gateway.InboundPort, p.Gateway.AdminPort}
	for _, w := range p.Workloads {
		used = append(used, w.AppPort, w.InboundPort, w.AdminPort)
		for _, u := range w.Upstreams {
			used = append(used, u.LocalPort)
		}
	}
	slices.Sort(used)
	want := append([]int{8080}, seqPorts(20000, n)...)
	if diff := cmp.Diff(want, used); diff != "" {
		t.Errorf("ports used (-want +got):\n%s", diff)
	}
	if _, err := newPlan(demoApps, "ingress", 8080, seqPorts(20000, n-1)); err == nil {
		t.Error("newPlan with too few ports: no error")
	}
}

func TestPlanArgs(t *testing.T) {
	apps := []appSpec{
		{Service: "leaf", Version: "v1"},
		{Service: "front", Version: "v2", Calls: []string{"leaf", "other"}},
	}
	p, err := newPlan(apps, "edge", 9080, seqPorts(30000, portsNeeded(apps)))
	if err != nil {
		t.Fatal(err)
	}
	// gateway: 30000 inbound, 30001 admin; leaf: 30002 app, 30003 inbound, 30004 admin;
	// front: 30005 app, 30006 inbound, 30007 admin, 30008 and 30009 outbound.
	front := p.Workloads[1]
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"front app", front.appArgs(),
			"--name front --version v2 --listen 127.0.0.1:30005 --call http://127.0.0.1:30008/ --call http://127.0.0.1:30009/"},
		{"leaf app", p.Workloads[0].appArgs(), "--name leaf --version v1 --listen 127.0.0.1:30002"},
		{"front proxy", front.proxyArgs("/d/proxy-bootstrap.json", 3*time.Second),
			"--mode sidecar --bootstrap /d/proxy-bootstrap.json --service front --namespace default --version v2 " +
				"--address 127.0.0.1 --inbound-port 30006 --admin-addr 127.0.0.1:30007 --drain-timeout 3s " +
				"--app 8080=127.0.0.1:30005 --upstream leaf.default:8080=30008 --upstream other.default:8080=30009"},
		{"gateway proxy", p.Gateway.proxyArgs("/d/proxy-bootstrap.json", time.Second),
			"--mode gateway --gateway edge --namespace default --bootstrap /d/proxy-bootstrap.json " +
				"--address 127.0.0.1 --inbound-port 30000 --admin-addr 127.0.0.1:30001 --drain-timeout 1s"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.got, " "); got != tt.want {
			t.Errorf("%s args:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got, want := p.Gateway.URL(), "http://127.0.0.1:9080/"; got != want {
		t.Errorf("gateway URL = %q, want %q", got, want)
	}
}
