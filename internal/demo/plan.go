package demo

import (
	"fmt"
	"strconv"
	"time"

	"github.com/weftmesh/weft/internal/wire"
)

// The demo's Services all live in this namespace and serve this port
// (examples/demo/services.yaml).
const (
	demoNamespace   = "default"
	demoServicePort = 8080
)

// appSpec is one workload of the demo: a demo-app and its sidecar.
type appSpec struct {
	Service string
	Version string
	// Calls are the services the app calls on every request, through its sidecar.
	Calls []string
}

// demoApps is the demo's call chain: the gateway calls web-api, which calls recommendation (v1
// or v2, as the route splits it), which calls purchase-history.
var demoApps = []appSpec{
	{Service: "purchase-history", Version: "v1"},
	{Service: "recommendation", Version: "v1", Calls: []string{"purchase-history"}},
	{Service: "recommendation", Version: "v2", Calls: []string{"purchase-history"}},
	{Service: "web-api", Version: "v1", Calls: []string{"recommendation"}},
}

// upstreamPlan is an outbound listener of a sidecar.
type upstreamPlan struct {
	Service   string
	LocalPort int
}

// workloadPlan is where one workload's app and sidecar listen.
type workloadPlan struct {
	appSpec
	AppPort     int
	InboundPort int
	AdminPort   int
	Upstreams   []upstreamPlan
}

// gatewayPlan is where the ingress gateway listens.
type gatewayPlan struct {
	Name        string
	Port        int // the Gateway's HTTP listener
	InboundPort int
	AdminPort   int
}

// plan is every address of the demo's processes.
type plan struct {
	Gateway   gatewayPlan
	Workloads []workloadPlan
}

// portsNeeded is how many free ports newPlan takes for apps.
func portsNeeded(apps []appSpec) int {
	n := 2 // gateway: inbound, admin
	for _, a := range apps {
		n += 3 + len(a.Calls) // app, inbound, admin, one outbound listener per call
	}
	return n
}

// newPlan lays out the demo on the given free ports (portsNeeded(apps) of them).
func newPlan(apps []appSpec, gateway string, gatewayPort int, ports []int) (plan, error) {
	if len(ports) < portsNeeded(apps) {
		return plan{}, fmt.Errorf("laying out the demo: %d ports given, %d needed", len(ports), portsNeeded(apps))
	}
	next := func() int {
		p := ports[0]
		ports = ports[1:]
		return p
	}
	p := plan{Gateway: gatewayPlan{Name: gateway, Port: gatewayPort, InboundPort: next(), AdminPort: next()}}
	for _, a := range apps {
		w := workloadPlan{appSpec: a, AppPort: next(), InboundPort: next(), AdminPort: next()}
		for _, svc := range a.Calls {
			w.Upstreams = append(w.Upstreams, upstreamPlan{Service: svc, LocalPort: next()})
		}
		p.Workloads = append(p.Workloads, w)
	}
	return p, nil
}

// Name is how the demo calls the workload in its output, e.g. "recommendation v2".
func (w workloadPlan) Name() string { return w.Service + " " + w.Version }

// logName is the base name of the workload's log files, e.g. "recommendation-v2".
func (w workloadPlan) logName() string { return w.Service + "-" + w.Version }

// proxyLogName names the files of the workload's sidecar, its log and its join token, e.g.
// "recommendation-v2-proxy".
func (w workloadPlan) proxyLogName() string { return w.logName() + "-proxy" }

func (w workloadPlan) appAddr() string   { return loopback(w.AppPort) }
func (w workloadPlan) adminAddr() string { return loopback(w.AdminPort) }

// appArgs are demo-app's arguments.
func (w workloadPlan) appArgs() []string {
	args := []string{"--name", w.Service, "--version", w.Version, "--listen", w.appAddr()}
	for _, u := range w.Upstreams {
		args = append(args, "--call", "http://"+loopback(u.LocalPort)+"/")
	}
	return args
}

// proxyArgs are the arguments of the workload's weft-proxy sidecar.
func (w workloadPlan) proxyArgs(bootstrap string, drainTimeout time.Duration) []string {
	args := []string{
		"--mode", wire.ModeSidecar,
		"--bootstrap", bootstrap,
		"--service", w.Service,
		"--namespace", demoNamespace,
		"--version", w.Version,
		"--address", "127.0.0.1",
		"--inbound-port", strconv.Itoa(w.InboundPort),
		"--admin-addr", w.adminAddr(),
		"--drain-timeout", drainTimeout.String(),
		"--app", fmt.Sprintf("%d=%s", demoServicePort, w.appAddr()),
	}
	for _, u := range w.Upstreams {
		args = append(args, "--upstream", fmt.Sprintf("%s=%d", wire.HostPort(u.Service, demoNamespace, demoServicePort), u.LocalPort))
	}
	return args
}

func (g gatewayPlan) adminAddr() string { return loopback(g.AdminPort) }

// logName names the files of the gateway's proxy, its log and its join token, e.g.
// "gateway-ingress".
func (g gatewayPlan) logName() string { return "gateway-" + g.Name }

// URL is the gateway's address for curl.
func (g gatewayPlan) URL() string { return "http://" + loopback(g.Port) + "/" }

// proxyArgs are the arguments of the gateway's weft-proxy.
func (g gatewayPlan) proxyArgs(bootstrap string, drainTimeout time.Duration) []string {
	return []string{
		"--mode", wire.ModeGateway,
		"--gateway", g.Name,
		"--namespace", demoNamespace,
		"--bootstrap", bootstrap,
		"--address", "127.0.0.1",
		"--inbound-port", strconv.Itoa(g.InboundPort),
		"--admin-addr", g.adminAddr(),
		"--drain-timeout", drainTimeout.String(),
	}
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
