package xdsclient

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// absentVersion stands, in a config's digest, for a referenced resource the server said does
// not exist (or that never arrived).
const absentVersion = "<absent>"

// build assembles a Config from the state. A config is complete when the first Listener and
// Cluster responses have arrived and every route configuration, cluster load assignment and
// the ROOTCA secret the listeners and clusters refer to is held or known absent. When it is
// not, build returns no config and the missing resources, sorted.
//
// A known-absent route configuration becomes an empty route table, a known-absent load
// assignment an EDS cluster without endpoints, and a known-absent ROOTCA an empty trust
// bundle (every TLS handshake that needs it fails).
func (s *state) build() (*config.Config, []string) {
	lds, cds := s.types[TypeListener], s.types[TypeCluster]
	rds, eds, sds := s.types[TypeRoute], s.types[TypeEndpoint], s.types[TypeSecret]
	var missing []string
	if !cds.received {
		missing = append(missing, "clusters (no response yet)")
	}
	if !lds.received {
		missing = append(missing, "listeners (no response yet)")
	}
	if len(missing) > 0 {
		return nil, missing
	}

	cfg := &config.Config{
		Listeners: make(map[string]*config.Listener, len(lds.resources)),
		Clusters:  make(map[string]*config.Cluster, len(cds.resources)),
		Routes:    map[string]*config.RouteTable{},
	}
	var digest []string
	add := func(kind, name, version string) {
		digest = append(digest, kind+"\x00"+name+"\x00"+version)
	}
	needRootCA := false
	tcpRefs := map[string]bool{}
	var tables []*config.RouteTable

	for name, e := range lds.resources {
		lr := e.value.(*listenerResource)
		cfg.Listeners[name] = lr.listener
		add("listener", name, e.version)
		needRootCA = needRootCA || lr.usesRootCA
		for _, c := range lr.tcpClusters {
			tcpRefs[c] = true
		}
		for _, fc := range lr.listener.FilterChains {
			if fc.HTTP != nil && fc.HTTP.Inline != nil {
				tables = append(tables, fc.HTTP.Inline)
			}
		}
		for _, rn := range lr.routeNames {
			if _, done := cfg.Routes[rn]; done {
				continue
			}
			if re, ok := rds.resources[rn]; ok {
				cfg.Routes[rn] = re.value.(*config.RouteTable)
				add("route", rn, re.version)
			} else if _, ok := rds.absent[rn]; ok {
				cfg.Routes[rn] = &config.RouteTable{Name: rn}
				add("route", rn, absentVersion)
			} else {
				missing = append(missing, fmt.Sprintf("%s %q", kinds[TypeRoute], rn))
			}
		}
	}
	for _, rt := range cfg.Routes {
		tables = append(tables, rt)
	}
	routeRefs := routedClusters(tables)

	for name, e := range cds.resources {
		cr := e.value.(*clusterResource)
		c := *cr.cluster
		add("cluster", name, e.version)
		needRootCA = needRootCA || cr.usesRootCA
		if cr.edsName != "" {
			if ee, ok := eds.resources[cr.edsName]; ok {
				c.Endpoints = ee.value.([]config.Endpoint)
				add("endpoints", cr.edsName, ee.version)
			} else if _, ok := eds.absent[cr.edsName]; ok {
				c.Endpoints = nil
				add("endpoints", cr.edsName, absentVersion)
			} else {
				missing = append(missing, fmt.Sprintf("%s %q", kinds[TypeEndpoint], cr.edsName))
			}
		}
		// The cluster alone cannot say TCP: a cluster only TCP proxies reach speaks TCP.
		if tcpRefs[name] && !routeRefs[name] {
			c.Protocol = config.TCP
		}
		cfg.Clusters[name] = &c
	}

	if e, ok := sds.resources[wire.SecretRootCA]; ok {
		cfg.TrustBundle = e.value.([]byte)
		add("secret", wire.SecretRootCA, e.version)
	} else if needRootCA {
		if _, ok := sds.absent[wire.SecretRootCA]; ok {
			add("secret", wire.SecretRootCA, absentVersion)
		} else {
			missing = append(missing, fmt.Sprintf("%s %q", kinds[TypeSecret], wire.SecretRootCA))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, slices.Compact(missing)
	}
	slices.Sort(digest)
	sum := sha256.Sum256([]byte(strings.Join(digest, "\n")))
	cfg.Version = hex.EncodeToString(sum[:16])
	return cfg, nil
}

// routedClusters returns the clusters HTTP routes send requests to.
func routedClusters(tables []*config.RouteTable) map[string]bool {
	out := map[string]bool{}
	for _, t := range tables {
		for _, vh := range t.VirtualHosts {
			for _, r := range vh.Routes {
				for _, wc := range r.Clusters {
					out[wc.Name] = true
				}
			}
		}
	}
	return out
}

// carryReferencedClusters keeps, in cfg, the clusters of prev that cfg's routes or TCP proxies
// still send traffic to but that cfg no longer holds. The types of a delta xDS stream arrive
// one response at a time: when a route moves off a cluster, the cluster's removal may come
// before the route's new version, and applying that config in between would answer 503 to
// requests the old route still sends there. The cluster (with the endpoints it had) stays
// until no route uses it (make before break); its presence is part of cfg.Version.
func carryReferencedClusters(cfg, prev *config.Config) {
	if prev == nil {
		return
	}
	var tables []*config.RouteTable
	tcp := map[string]bool{}
	for _, l := range cfg.Listeners {
		for _, fc := range l.FilterChains {
			switch {
			case fc.HTTP != nil && fc.HTTP.Inline != nil:
				tables = append(tables, fc.HTTP.Inline)
			case fc.TCP != nil:
				tcp[fc.TCP.Cluster] = true
			}
		}
	}
	for _, rt := range cfg.Routes {
		tables = append(tables, rt)
	}
	refs := routedClusters(tables)
	for name := range tcp {
		refs[name] = true
	}
	var carried []string
	for name := range refs {
		if _, ok := cfg.Clusters[name]; ok {
			continue
		}
		if c, ok := prev.Clusters[name]; ok {
			cfg.Clusters[name] = c
			carried = append(carried, name)
		}
	}
	if len(carried) == 0 {
		return
	}
	slices.Sort(carried)
	sum := sha256.Sum256([]byte(cfg.Version + "\ncarried\x00" + strings.Join(carried, "\x00")))
	cfg.Version = hex.EncodeToString(sum[:16])
}
