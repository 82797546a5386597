package controlplane

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/registry"
	"github.com/weftmesh/weft/internal/store"
)

// snapshotter hands the xDS server a new mesh snapshot after every change of the store or
// the registry. Changes that arrive while a snapshot is built are coalesced into the next one;
// the xDS server debounces further.
type snapshotter struct {
	store     store.Store
	registry  *registry.Registry
	authority trustSource
	xds       xdsService
	log       *slog.Logger

	storeCh, registryCh, trustCh <-chan struct{}
	unsubscribe                  func()
}

// trustSource is the trust bundle and its changes (*ca.Manager).
type trustSource interface {
	TrustBundle() []byte
	Subscribe() (<-chan struct{}, func())
}

// newSnapshotter subscribes to the changes of the store and the registry; a push after this
// call sees every change, the ones it misses are signalled to run.
func newSnapshotter(st store.Store, reg *registry.Registry, authority trustSource, x xdsService, log *slog.Logger) *snapshotter {
	s := &snapshotter{store: st, registry: reg, authority: authority, xds: x, log: log}
	var stopStore, stopReg, stopTrust func()
	s.storeCh, stopStore = st.Subscribe()
	s.registryCh, stopReg = reg.Subscribe()
	s.trustCh, stopTrust = authority.Subscribe()
	s.unsubscribe = func() { stopStore(); stopReg(); stopTrust() }
	return s
}

// run pushes a snapshot after each change until ctx is done. Its caller unsubscribes (it
// must even when run never starts).
func (s *snapshotter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.storeCh:
		case <-s.registryCh:
		case <-s.trustCh:
		}
		if err := s.push(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("building the mesh snapshot", "error", err)
		}
	}
}

// push builds a snapshot and hands it to the xDS server.
func (s *snapshotter) push(ctx context.Context) error {
	resources, err := s.store.List(ctx, "", "")
	if err != nil {
		return fmt.Errorf("building the mesh snapshot: %w", err)
	}
	snap := mesh.BuildSnapshot(resources, s.registry.List(), s.authority.TrustBundle())
	s.log.Debug("mesh snapshot built", "revision", s.store.Revision(), "services", len(snap.Services),
		"routes", len(snap.HTTPRoutes), "gateways", len(snap.Gateways), "workloads", len(snap.Workloads))
	s.xds.Update(snap)
	return nil
}
