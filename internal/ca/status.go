package ca

import (
	"crypto/x509"
	"slices"
	"time"
)

// Status describes the CA and the rotation in progress, if any.
type Status struct {
	// Phase is PhaseIdle when no rotation is in progress.
	Phase Phase
	// Started and PhaseSince time the rotation and its phase (zero when idle).
	Started, PhaseSince time.Time
	// Signing is the CA that signs workload certificates, and Issuer its certificate.
	Signing Source
	Issuer  CertSummary
	// Target is the CA the rotation moves to, while it does not sign yet.
	Target *Source
	// Previous is the CA the rotation moves from, once it does not sign any more.
	Previous *Source
	// Roots are the certificates of the trust bundle.
	Roots []RootStatus
	// Lagging are who the phase waits for (at most 100), LaggingTotal how many in all.
	Lagging      []Laggard
	LaggingTotal int
	// Error is why the rotation cannot go on, if it cannot.
	Error string
}

// CertSummary describes a CA certificate.
type CertSummary struct {
	Subject     string
	Fingerprint string
	NotAfter    time.Time
}

// Root roles in a rotation.
const (
	// RoleCurrent: a root of the CA in use (that signs, or signed until the rotation began).
	RoleCurrent = "current"
	// RoleIncoming: a root of the CA the rotation moves to, trusted before it signs.
	RoleIncoming = "incoming"
	// RoleOutgoing: a root of the old CA, trusted until every workload has renewed.
	RoleOutgoing = "outgoing"
)

// RootStatus is one root of the trust bundle.
type RootStatus struct {
	CertSummary
	// Signs is true for the root that the signing CA's certificates chain to.
	Signs bool
	// Role is RoleCurrent, RoleIncoming or RoleOutgoing.
	Role string
}

func summary(c *x509.Certificate) CertSummary {
	return CertSummary{Subject: c.Subject.String(), Fingerprint: Fingerprint(c), NotAfter: c.NotAfter}
}

// Status returns the CA's status.
func (m *Manager) Status() Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := Status{
		Phase:        PhaseIdle,
		Signing:      m.state.Active,
		Issuer:       summary(m.signer.Issuer()),
		Lagging:      slices.Clone(m.lagging),
		LaggingTotal: m.lagTotal,
		Error:        m.lastErr,
	}
	anchor := Fingerprint(m.signer.Anchor())
	var from, to map[string]bool
	if r := m.state.Rotation; r != nil {
		st.Phase, st.Started, st.PhaseSince = r.Phase, r.Started, r.PhaseSince
		from, to = pemFingerprints(r.FromRoots), pemFingerprints(r.ToRoots)
		if r.Phase == PhaseTrust {
			target := r.To
			st.Target = &target
		} else {
			prev := r.From
			st.Previous = &prev
		}
	}
	for _, c := range m.roots {
		rs := RootStatus{CertSummary: summary(c), Role: RoleCurrent}
		rs.Signs = rs.Fingerprint == anchor
		if r := m.state.Rotation; r != nil {
			switch {
			case r.Phase == PhaseTrust && to[rs.Fingerprint] && !from[rs.Fingerprint]:
				rs.Role = RoleIncoming
			case r.Phase != PhaseTrust && from[rs.Fingerprint] && !to[rs.Fingerprint]:
				rs.Role = RoleOutgoing
			}
		}
		st.Roots = append(st.Roots, rs)
	}
	return st
}
