package cli

import (
	"fmt"
	"sort"
	"strings"
)

// kind describes a resource kind as the CLI names it.
type kind struct {
	Plural        string // the API's name, e.g. "services"
	Kind          string // e.g. "Service"
	ClusterScoped bool
}

var kinds = []kind{
	{Plural: "meshes", Kind: "Mesh", ClusterScoped: true},
	{Plural: "services", Kind: "Service"},
	{Plural: "httproutes", Kind: "HTTPRoute"},
	{Plural: "gateways", Kind: "Gateway"},
	{Plural: "mtlspolicies", Kind: "MTLSPolicy"},
	{Plural: "authorizationpolicies", Kind: "AuthorizationPolicy"},
	{Plural: "workloads", Kind: "Workload"},
}

var kindAliases = map[string]string{
	"mesh": "meshes", "service": "services", "svc": "services",
	"httproute": "httproutes", "route": "httproutes", "routes": "httproutes",
	"gateway": "gateways", "gw": "gateways",
	"mtlspolicy": "mtlspolicies", "mtls": "mtlspolicies",
	"authorizationpolicy": "authorizationpolicies", "authz": "authorizationpolicies",
	"workload": "workloads", "wl": "workloads",
}

// lookupKind resolves what a user typed (any case, singular, plural or short) to a kind.
func lookupKind(s string) (kind, error) {
	name := strings.ToLower(s)
	if alias, ok := kindAliases[name]; ok {
		name = alias
	}
	for _, k := range kinds {
		if k.Plural == name {
			return k, nil
		}
	}
	var known []string
	for _, k := range kinds {
		known = append(known, k.Plural)
	}
	sort.Strings(known)
	return kind{}, fmt.Errorf("unknown kind %q: known kinds are %s", s, strings.Join(known, ", "))
}
