package agent

import (
	"context"
	"maps"
	"net"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// identifyGateway registers a gateway with weftd and returns the SPIFFE ID to ask a
// certificate for: its service account's, as weftd's registration answer gives it (in the
// configured trust domain if the answer has none; weftd refuses a certificate outside the
// mesh's). A gateway serves no Service: it is registered as a
// gateway (wire.Workload.Gateway, Service the Gateway resource's name, no inbound port),
// never an endpoint, only so that weftd tracks its certificate and can ask it, in its lease
// answers, to renew it during a CA rotation.
func (a *agent) identifyGateway(ctx context.Context, adminAddr net.Addr) (string, error) {
	id, err := a.registerAs(ctx, &wire.Workload{
		ID:             a.cfg.ID,
		Service:        a.cfg.Gateway,
		Namespace:      a.cfg.Namespace,
		ServiceAccount: a.cfg.ServiceAccount,
		Labels:         maps.Clone(a.cfg.Labels),
		Address:        a.cfg.Address,
		AdminAddress:   adminAddr.String(),
		Gateway:        true,
	}, "registering the gateway with weftd", "invalid gateway registration")
	if err != nil {
		return "", err
	}
	a.log.Info("gateway registered (it serves no Service: weftd tracks its certificate)", "spiffeID", id,
		"gateway", a.cfg.Namespace+"/"+a.cfg.Gateway, "lease", a.lease.ttl)
	return id, nil
}

// renewCertificateIfAsked renews the certificate at once when weftd's lease answer says it
// is not from the CA that signs now.
func (a *agent) renewCertificateIfAsked(resp *apiclient.RegisterResponse) {
	if resp == nil || !resp.RenewCertificate {
		return
	}
	if id := a.id.Load(); id != nil {
		a.log.Debug("weftd asks for a new certificate (its CA changed)")
		id.RenewNow()
	}
}
