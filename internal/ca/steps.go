package ca

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// step moves a rotation on when what its phase waits for is done, and records who lags.
// Only Run (or a test) calls it; Rotate does not start a rotation while one runs, so the
// state a step reads is not changed under it.
func (m *Manager) step(ctx context.Context) {
	m.mu.RLock()
	var r *Rotation
	if m.state.Rotation != nil {
		rc := *m.state.Rotation
		r = &rc
	}
	m.mu.RUnlock()
	if r == nil {
		m.setLagging(nil)
		return
	}
	now := m.cfg.Now()
	from, to := pemFingerprints(r.FromRoots), pemFingerprints(r.ToRoots)
	switch r.Phase {
	case PhaseTrust:
		lag := m.proxiesLagging(func(acked map[string]bool) bool { return !containsAll(acked, to) },
			"has not applied a trust bundle with the new root yet")
		if m.setLagging(lag); len(lag) > 0 {
			m.warnIfSlow(r, now)
			return
		}
		m.startSigning(r, now)
	case PhaseReissue:
		lag := m.workloadsLagging(now)
		if m.setLagging(lag); len(lag) > 0 {
			m.warnIfSlow(r, now)
			return
		}
		m.advance(r, PhaseRetire, now, "CA rotation: every workload holds a certificate of the new CA; the old roots leave the trust bundle")
	case PhaseRetire:
		old := maps.Clone(from)
		for f := range to {
			delete(old, f)
		}
		lag := m.proxiesLagging(func(acked map[string]bool) bool { return containsAny(acked, old) || !containsAll(acked, to) },
			"has not applied the trust bundle without the old root yet")
		if m.setLagging(lag); len(lag) > 0 {
			m.warnIfSlow(r, now)
			return
		}
		m.finish(ctx, r)
	}
}

// proxiesLagging lists the connected proxies whose acknowledged trust bundle lags.
func (m *Manager) proxiesLagging(lags func(acked map[string]bool) bool, reason string) []Laggard {
	parsed := map[string]map[string]bool{} // proxies mostly share a bundle: parse each once
	var out []Laggard
	for _, p := range m.cfg.Proxies() {
		if !p.UsesBundle {
			continue
		}
		set, ok := parsed[string(p.Acked)]
		if !ok {
			set = pemFingerprints(string(p.Acked))
			parsed[string(p.Acked)] = set
		}
		if lags(set) {
			out = append(out, Laggard{Kind: "proxy", ID: p.NodeID, Reason: reason})
		}
	}
	return out
}

// workloadsLagging lists the registered workloads that may still hold a live certificate of
// a CA that does not sign any more.
func (m *Manager) workloadsLagging(now time.Time) []Laggard {
	m.mu.RLock()
	active := m.issuer
	m.mu.RUnlock()
	var out []Laggard
	for _, w := range m.cfg.Workloads() {
		switch {
		case w.Proxyless:
		case !w.Recorded:
			out = append(out, Laggard{Kind: "workload", ID: w.ID, Reason: "has not obtained a certificate from the new CA yet"})
		case w.Issuer != active && now.Before(w.NotAfter):
			out = append(out, Laggard{Kind: "workload", ID: w.ID,
				Reason: "holds a certificate of the old CA, valid until " + w.NotAfter.UTC().Format(time.RFC3339) + "; it was told to renew"})
		}
	}
	return out
}

// startSigning makes the new CA sign (the end of the trust phase).
func (m *Manager) startSigning(r *Rotation, now time.Time) {
	m.mu.RLock()
	next := m.next
	m.mu.RUnlock()
	if next == nil {
		b, err := m.openSaved(r.To)
		if err != nil {
			m.setErr(fmt.Sprintf("opening the new CA, %s: %v", r.To, err))
			return
		}
		next = b
	}
	nr := *r
	nr.Phase, nr.PhaseSince = PhaseReissue, now
	if !m.commit(State{Active: r.To, Rotation: &nr}, next) {
		return
	}
	m.log.Info("CA rotation: every proxy trusts the new roots; the new CA signs from now on and workloads renew their certificates",
		"signer", r.To.String(), "issuer", Fingerprint(next.Issuer()))
}

// advance moves the rotation to the next phase.
func (m *Manager) advance(r *Rotation, phase Phase, now time.Time, msg string) {
	nr := *r
	nr.Phase, nr.PhaseSince = phase, now
	m.mu.RLock()
	st := State{Active: m.state.Active, Rotation: &nr}
	m.mu.RUnlock()
	if !m.commit(st, nil) {
		return
	}
	m.log.Info(msg)
	m.notifier.Notify()
}

// finish ends the rotation: the new CA is recorded in the Mesh and becomes the only one.
func (m *Manager) finish(ctx context.Context, r *Rotation) {
	if m.cfg.RecordMeshCA != nil {
		if err := m.cfg.RecordMeshCA(ctx, r.To.Spec()); err != nil {
			m.setErr(fmt.Sprintf("recording the new CA in the Mesh's spec.ca: %v", err))
			return
		}
	}
	if !m.commit(State{Active: r.To}, nil) {
		return
	}
	m.setLagging(nil)
	m.discard(r.From)
	m.log.Info("CA rotation complete: every proxy trusts only the new roots", "signer", r.To.String(),
		"took", m.cfg.Now().Sub(r.Started).Round(time.Second).String())
	m.notifier.Notify()
}

// commit saves a step's state, then makes it the manager's and rebuilds the trust bundle;
// with a signer, that CA signs from now on. It records a failure for the status (the step is
// retried) and reports whether the state was committed.
func (m *Manager) commit(st State, signer Backend) bool {
	if err := m.cfg.State.Save(st); err != nil {
		m.setErr(err.Error())
		return false
	}
	m.mu.Lock()
	m.state, m.lastErr = st, ""
	if signer != nil {
		m.signer, m.next = signer, nil
	}
	err := m.recomputeLocked()
	m.mu.Unlock()
	if err != nil {
		m.setErr(err.Error())
		return false
	}
	return true
}

func (m *Manager) setErr(msg string) {
	m.mu.Lock()
	changed := m.lastErr != msg
	m.lastErr = msg
	m.mu.Unlock()
	if changed {
		m.log.Error("CA rotation cannot go on; it is retried", "error", msg)
	}
}

func (m *Manager) setLagging(lag []Laggard) {
	slices.SortFunc(lag, func(a, b Laggard) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID)) })
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lagTotal = len(lag)
	m.lagging = lag[:min(len(lag), maxLagging)]
}

// warnIfSlow logs who a phase waits for once it has waited long, at most once a minute.
func (m *Manager) warnIfSlow(r *Rotation, now time.Time) {
	if now.Sub(r.PhaseSince) < lagWarnAfter {
		return
	}
	m.mu.Lock()
	if now.Sub(m.lastWarn) < time.Minute {
		m.mu.Unlock()
		return
	}
	m.lastWarn = now
	lag, total := slices.Clone(m.lagging[:min(len(m.lagging), 5)]), m.lagTotal
	m.mu.Unlock()
	ids := make([]string, len(lag))
	for i, l := range lag {
		ids[i] = l.Kind + " " + l.ID + " " + l.Reason
	}
	m.log.Warn("CA rotation is waiting (see 'weft ca status')", "phase", r.Phase,
		"since", r.PhaseSince.Format(time.RFC3339), "waitingFor", total, "first", ids)
}

func containsAll(set, want map[string]bool) bool {
	for f := range want {
		if !set[f] {
			return false
		}
	}
	return true
}

func containsAny(set, any map[string]bool) bool {
	for f := range any {
		if set[f] {
			return true
		}
	}
	return false
}
