// Package demo embeds the resources of the Weft demo (the YAML files of this directory) so that
// `weft demo` can apply them without a source checkout.
package demo

import "embed"

// FS holds every YAML file of examples/demo.
//
//go:embed *.yaml
var FS embed.FS

// BaseFiles returns the files `weft demo` applies at start, in order: the mesh, the services,
// the ingress gateway and its route, and the 90/10 canary of recommendation.
func BaseFiles() []string {
	return []string{"mesh.yaml", "services.yaml", "gateway.yaml", "canary-90-10.yaml"}
}

// NextFiles returns the files the demo suggests applying next: the canary at 50/50, then
// every call to recommendation-v2.
func NextFiles() []string {
	return []string{"canary-50-50.yaml", "all-v2.yaml"}
}

// Gateway is the name of the demo's Gateway (in namespace "default"), and GatewayPort the port
// of its HTTP listener in gateway.yaml.
const (
	Gateway     = "ingress"
	GatewayPort = 8080
)
