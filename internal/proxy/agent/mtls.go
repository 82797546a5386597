package agent

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/weftmesh/weft/internal/wire"
)

// cutInboundPort splits the optional "@INBOUNDPORT" off an --app value's target.
func cutInboundPort(s, target string) (string, int32, error) {
	target, inbound, ok := strings.Cut(target, "@")
	if !ok {
		return target, 0, nil
	}
	port, err := parsePort(inbound)
	if err != nil {
		return "", 0, fmt.Errorf("--app %q: dedicated inbound port: %w", s, err)
	}
	return target, port, nil
}

// dedicatedInbound lists the app ports that have their own inbound port, for the
// registration, sorted by service port.
func dedicatedInbound(apps []wire.AppPort) []wire.DedicatedInbound {
	var out []wire.DedicatedInbound
	for _, a := range apps {
		if a.InboundPort != 0 {
			out = append(out, wire.DedicatedInbound{Port: a.Port, InboundPort: a.InboundPort})
		}
	}
	slices.SortFunc(out, func(x, y wire.DedicatedInbound) int { return cmp.Compare(x.Port, y.Port) })
	return out
}

// checkDedicatedInbound checks the dedicated inbound ports of the app ports: each in range,
// and none shared with the inbound port, another app port or an upstream's local port.
func (c *Config) checkDedicatedInbound() []error {
	var errs []error
	used := map[int32]string{c.InboundPort: "the inbound port (--inbound-port)"}
	for _, u := range c.Upstreams {
		used[u.LocalPort] = "the local port of upstream " + u.Key()
	}
	for _, a := range c.Apps {
		if a.InboundPort == 0 {
			continue
		}
		if err := checkPort(fmt.Sprintf("app port %d: dedicated inbound port", a.Port), a.InboundPort); err != nil {
			errs = append(errs, err)
			continue
		}
		if what, dup := used[a.InboundPort]; dup {
			errs = append(errs, fmt.Errorf("app port %d: dedicated inbound port %d is already %s", a.Port, a.InboundPort, what))
			continue
		}
		used[a.InboundPort] = fmt.Sprintf("the dedicated inbound port of app port %d", a.Port)
	}
	return errs
}
