package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/proxy/identity"
	"github.com/weftmesh/weft/internal/wire"
)

// defaultLease is assumed when weftd's answer carries no lease duration.
const defaultLease = 20 * time.Second

// leaseState is the lease loop's view of the registration; only the lease loop touches it
// after identify.
type leaseState struct {
	ttl      time.Duration
	spiffeID string
}

// identify returns the SPIFFE ID to ask a certificate for. A sidecar registers its workload
// first (retrying until weftd answers) and uses the SPIFFE ID weftd returns. A gateway
// registers too, as a gateway (gateway.go), but asks for the identity of its service account
// in the configured trust domain.
func (a *agent) identify(ctx context.Context, adminAddr net.Addr) (string, error) {
	if a.cfg.Mode == wire.ModeGateway {
		return a.identifyGateway(ctx, adminAddr)
	}
	ports := make([]int32, 0, len(a.cfg.Apps))
	for _, app := range a.cfg.Apps {
		ports = append(ports, app.Port)
	}
	slices.Sort(ports)
	id, err := a.registerAs(ctx, &wire.Workload{
		ID:               a.cfg.ID,
		Service:          a.cfg.Service,
		Namespace:        a.cfg.Namespace,
		ServiceAccount:   a.cfg.ServiceAccount,
		Version:          a.cfg.Version,
		Labels:           maps.Clone(a.cfg.Labels),
		Address:          a.cfg.Address,
		InboundPort:      a.cfg.InboundPort,
		Ports:            ports,
		DedicatedInbound: dedicatedInbound(a.cfg.Apps),
		AdminAddress:     adminAddr.String(),
	}, "registering the workload with weftd", "invalid workload")
	if err != nil {
		return "", err
	}
	a.log.Info("workload registered", "service", a.cfg.Service+"."+a.cfg.Namespace, "address", a.cfg.Address,
		"inboundPort", a.cfg.InboundPort, "ports", ports, "spiffeID", id, "lease", a.lease.ttl)
	return id, nil
}

// registerAs registers w with weftd (retrying until weftd answers), records the lease and
// returns the SPIFFE ID to ask a certificate for: the one weftd's answer gives, else the
// service account's in the configured trust domain. status is shown while registering;
// invalid prefixes the error when w fails validation. On error a.workload is left nil, so
// the proxy neither renews nor deregisters a workload weftd never registered.
func (a *agent) registerAs(ctx context.Context, w *wire.Workload, status, invalid string) (string, error) {
	a.workload = w
	if err := w.Validate(); err != nil {
		a.workload = nil
		return "", fmt.Errorf("%s: %w", invalid, err)
	}
	a.setStatus(status)
	resp, err := a.registerUntilAnswered(ctx)
	if err != nil {
		a.workload = nil
		return "", err
	}
	a.lease.ttl = leaseTTL(resp)
	a.lease.spiffeID = resp.SPIFFEID // weftd knows the mesh's trust domain
	if a.lease.spiffeID == "" {
		a.lease.spiffeID = wire.SPIFFEID(a.cfg.TrustDomain, a.cfg.Namespace, a.cfg.ServiceAccount)
		a.log.Info("weftd's registration answer has no SPIFFE ID; using the configured trust domain", "spiffeID", a.lease.spiffeID)
	}
	return a.lease.spiffeID, nil
}

func leaseTTL(resp *apiclient.RegisterResponse) time.Duration {
	if resp.LeaseSeconds <= 0 {
		return defaultLease
	}
	return time.Duration(resp.LeaseSeconds) * time.Second
}

// registerUntilAnswered registers the workload, retrying while weftd is unreachable or
// failing (the proxy may start before weftd). A refusal retrying cannot fix is returned.
func (a *agent) registerUntilAnswered(ctx context.Context) (*apiclient.RegisterResponse, error) {
	for attempt := 1; ; attempt++ {
		resp, err := a.register(ctx)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil || a.drainRequested() {
			return nil, fmt.Errorf("registering workload %s: stopped before weftd answered: %w", a.cfg.ID, err)
		}
		if identity.Permanent(err) {
			return nil, fmt.Errorf("weftd refused to register workload %s: %w", a.cfg.ID, err)
		}
		wait := identity.Backoff(attempt, a.deps.retryMin, a.deps.retryMax)
		a.setStatus(fmt.Sprintf("registering the workload with weftd (attempt %d failed: %v)", attempt, err))
		a.log.Warn("registering the workload failed; retrying (weftd may not be up yet)", "attempt", attempt, "retryIn", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-a.drainCh:
			t.Stop()
		case <-t.C:
		}
	}
}

func (a *agent) register(ctx context.Context) (*apiclient.RegisterResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, a.deps.callTimeout)
	defer cancel()
	return a.api.RegisterWorkload(ctx, a.workload)
}

// maxLeaseInterval bounds the time between lease renewals: a renewal's answer is how a CA
// rotation tells the proxy to renew its certificate, so it must come soon enough.
const maxLeaseInterval = 5 * time.Second

// leaseLoop renews the lease every third of its duration (at most every maxLeaseInterval)
// until ctx is done. When weftd has forgotten the workload (it restarted without its store,
// or the lease ran out during an outage), it registers again. Failures are retried sooner,
// with backoff, and never stop the proxy: a proxy that loses weftd keeps serving.
func (a *agent) leaseLoop(ctx context.Context) {
	failures := 0
	for {
		interval := min(max(a.lease.ttl/3, 50*time.Millisecond), maxLeaseInterval)
		wait := interval
		if failures > 0 {
			wait = min(identity.Backoff(failures, a.deps.retryMin, a.deps.retryMax), interval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := a.renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			a.leaseFailures.Inc()
			a.log.Warn("renewing the workload lease failed; still serving, retrying", "attempt", failures, "error", err)
			continue
		}
		if failures > 0 {
			a.log.Info("workload lease renewed again", "afterFailures", failures)
		}
		failures = 0
	}
}

// renew renews the lease, or registers again if weftd does not know the workload. When
// weftd's answer asks for it (a CA rotation), the certificate is renewed at once.
func (a *agent) renew(ctx context.Context) error {
	callCtx, cancel := context.WithTimeout(ctx, a.deps.callTimeout)
	resp, err := a.api.RenewLease(callCtx, a.workload.ID)
	cancel()
	if err == nil {
		a.renewCertificateIfAsked(resp)
		return nil
	}
	if !errors.Is(err, apiclient.ErrNotFound) {
		return fmt.Errorf("renewing the lease: %w", err)
	}
	a.log.Warn("weftd does not know this workload any more; registering it again")
	resp, err = a.register(ctx)
	if err != nil {
		return fmt.Errorf("registering again: %w", err)
	}
	a.lease.ttl = leaseTTL(resp)
	a.renewCertificateIfAsked(resp)
	if resp.SPIFFEID != "" && resp.SPIFFEID != a.lease.spiffeID && !a.workload.Gateway {
		a.log.Warn("weftd now gives this workload another SPIFFE ID; restart the proxy to use it",
			"current", a.lease.spiffeID, "new", resp.SPIFFEID)
	}
	a.log.Info("workload registered again", "lease", a.lease.ttl)
	return nil
}
