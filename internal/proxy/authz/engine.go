// Package authz enforces the authorization of a filter chain (config.Authz, decoded from
// Envoy's RBAC filters) with Envoy's semantics: per filter, the shadow rules are evaluated and
// reported, then the rules are enforced (ALLOW: what no policy matches is denied; DENY: what a
// policy matches is denied) or reported (LOG); the first filter that denies ends the check.
//
// A caller is who its verified certificate says (the URI SAN, a SPIFFE ID); a plaintext caller
// has no identity and never matches an authenticated principal. HTTP conditions (headers,
// paths) match the request with its path normalised (NormalizePath); on a TCP connection they
// never match.
//
// Checking allocates nothing unless something is reported (a denial, an audit match, a dry
// run that would deny).
package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

// Request is the part of an HTTP request the permissions look at.
type Request interface {
	// Header returns the first value of the header named name (lower case) and whether it is
	// present; ":method", ":path" and ":authority" name the pseudo-headers.
	Header(name string) ([]byte, bool)
}

// Input is what one check is about: a request, or a connection when Request is nil.
type Input struct {
	// Authenticated: the caller presented a certificate the proxy verified.
	Authenticated bool
	// Peer is the caller's URI SAN (its SPIFFE ID); empty for a plaintext caller.
	Peer string
	// Port is the port the connection was accepted on.
	Port uint32
	// Request is the HTTP request; nil for a TCP connection.
	Request Request
	// Method and Path (normalised, without the query) of the request, for the conditions and
	// the reports.
	Method []byte
	Path   []byte
}

// Engine is a compiled config.Authz. It is immutable and safe for concurrent use.
type Engine struct {
	filters []filter
	rep     *Reporter
}

type filter struct {
	rules, shadow *ruleSet
}

// ruleSet is compiled config.RBACRules.
type ruleSet struct {
	action   config.RBACAction
	policies []policy
	// label names the policies together, for a decision no single policy took (nothing an
	// ALLOW filter has matched).
	label                 string
	denied                *stats.Counter
	wouldDeny, wouldAllow *stats.Counter
}

type policy struct {
	policy, rule string // from the name "<ns>/<name>/rule/<i>"; rule is "" for other names
	perms        []*config.Permission
	principals   []*config.Principal
	// Counters, resolved once.
	denied, audited, wouldDeny, wouldAllow *stats.Counter
}

// Compile builds the engine of a chain's Authz; nil for none. Reports go to rep.
func Compile(cfg *config.Authz, rep *Reporter) (*Engine, error) {
	if cfg == nil {
		return nil, nil
	}
	if rep == nil {
		return nil, fmt.Errorf("compiling authorization: no reporter")
	}
	e := &Engine{rep: rep}
	for i, f := range cfg.Filters {
		if f == nil || (f.Rules == nil && f.Shadow == nil) {
			return nil, fmt.Errorf("compiling authorization: filter %d has neither rules nor shadow rules", i)
		}
		var cf filter
		var err error
		if f.Rules != nil {
			if cf.rules, err = compileRules(f.Rules, false, rep); err != nil {
				return nil, fmt.Errorf("compiling authorization: filter %d: rules: %w", i, err)
			}
		}
		if f.Shadow != nil {
			if f.Shadow.Action == config.RBACLog {
				return nil, fmt.Errorf("compiling authorization: filter %d: shadow rules cannot LOG", i)
			}
			if cf.shadow, err = compileRules(f.Shadow, true, rep); err != nil {
				return nil, fmt.Errorf("compiling authorization: filter %d: shadow rules: %w", i, err)
			}
		}
		e.filters = append(e.filters, cf)
	}
	return e, nil
}

func compileRules(r *config.RBACRules, shadow bool, rep *Reporter) (*ruleSet, error) {
	rs := &ruleSet{action: r.Action}
	var names []string
	for _, p := range r.Policies {
		if p == nil || len(p.Permissions) == 0 || len(p.Principals) == 0 {
			return nil, fmt.Errorf("a policy without permissions or principals")
		}
		cp := policy{perms: p.Permissions, principals: p.Principals}
		cp.policy, cp.rule = splitPolicyName(p.Name)
		if !slices.Contains(names, cp.policy) {
			names = append(names, cp.policy)
		}
		switch {
		case shadow && r.Action == config.RBACDeny:
			cp.wouldDeny = rep.auditCounter(cp.policy, ResultWouldDeny)
		case shadow:
			cp.wouldAllow = rep.auditCounter(cp.policy, ResultWouldAllow)
		case r.Action == config.RBACDeny:
			cp.denied = rep.deniedCounter(cp.policy)
		case r.Action == config.RBACLog:
			cp.audited = rep.auditCounter(cp.policy, ResultAudited)
		}
		rs.policies = append(rs.policies, cp)
	}
	rs.label = strings.Join(names, ",")
	if rs.label == "" {
		rs.label = "(no policy)"
	}
	switch {
	case shadow && r.Action == config.RBACDeny:
		rs.wouldAllow = rep.auditCounter(rs.label, ResultWouldAllow)
	case shadow:
		rs.wouldDeny = rep.auditCounter(rs.label, ResultWouldDeny)
	case r.Action == config.RBACAllow:
		rs.denied = rep.deniedCounter(rs.label)
	}
	return rs, nil
}

// splitPolicyName splits "<ns>/<name>/rule/<i>" into the policy and the rule.
func splitPolicyName(name string) (policy, rule string) {
	if i := strings.LastIndex(name, "/rule/"); i > 0 {
		return name[:i], name[i+len("/rule/"):]
	}
	return name, ""
}

// Check reports whether in is allowed. Denials, audit matches and dry-run results are logged
// and counted.
func (e *Engine) Check(in *Input) bool {
	for i := range e.filters {
		f := &e.filters[i]
		if s := f.shadow; s != nil {
			p := s.match(in)
			switch {
			case s.action == config.RBACAllow && p == nil:
				e.rep.wouldDeny(s.label, "", s.wouldDeny, in)
			case s.action == config.RBACAllow:
				p.wouldAllow.Inc()
			case p != nil:
				e.rep.wouldDeny(p.policy, p.rule, p.wouldDeny, in)
			default:
				s.wouldAllow.Inc()
			}
		}
		r := f.rules
		if r == nil {
			continue
		}
		p := r.match(in)
		switch {
		case r.action == config.RBACAllow && p == nil:
			e.rep.deny(r.label, "", r.denied, in)
			return false
		case r.action == config.RBACDeny && p != nil:
			e.rep.deny(p.policy, p.rule, p.denied, in)
			return false
		case r.action == config.RBACLog && p != nil:
			e.rep.audited(p.policy, p.rule, p.audited, in)
		}
	}
	return true
}

// match returns the first policy that matches in, or nil.
func (rs *ruleSet) match(in *Input) *policy {
	for i := range rs.policies {
		p := &rs.policies[i]
		if anyPrincipal(p.principals, in) && anyPermission(p.perms, in) {
			return p
		}
	}
	return nil
}

func anyPermission(ps []*config.Permission, in *Input) bool {
	for _, p := range ps {
		if permission(p, in) {
			return true
		}
	}
	return false
}

func permission(p *config.Permission, in *Input) bool {
	switch {
	case p.Any:
		return true
	case p.And != nil:
		for _, q := range p.And {
			if !permission(q, in) {
				return false
			}
		}
		return true
	case p.Or != nil:
		return anyPermission(p.Or, in)
	case p.Not != nil:
		return !permission(p.Not, in)
	case p.DestinationPort != 0:
		return in.Port == p.DestinationPort
	case p.Header != nil:
		return in.Request != nil && header(p.Header, in.Request)
	case p.Path != nil:
		return in.Request != nil && stringMatch(p.Path, in.Path)
	}
	return false
}

func anyPrincipal(ps []*config.Principal, in *Input) bool {
	for _, p := range ps {
		if principal(p, in) {
			return true
		}
	}
	return false
}

func principal(p *config.Principal, in *Input) bool {
	switch {
	case p.Any:
		return true
	case p.And != nil:
		for _, q := range p.And {
			if !principal(q, in) {
				return false
			}
		}
		return true
	case p.Or != nil:
		return anyPrincipal(p.Or, in)
	case p.Not != nil:
		return !principal(p.Not, in)
	case p.Authenticated:
		if !in.Authenticated {
			return false
		}
		return p.PrincipalName == nil || stringMatchString(p.PrincipalName, in.Peer)
	}
	return false
}

func header(h *config.HeaderMatch, r Request) bool {
	v, ok := r.Header(h.Name)
	var m bool
	switch {
	case h.Exact != "":
		m = ok && string(v) == h.Exact
	case h.Regex != nil:
		m = ok && h.Regex.Match(v)
	default:
		m = ok == h.Present
	}
	return m != h.Invert
}

func stringMatch(m *config.StringMatch, b []byte) bool {
	switch {
	case m.Exact != "":
		return string(b) == m.Exact
	case m.Prefix != "":
		return len(b) >= len(m.Prefix) && string(b[:len(m.Prefix)]) == m.Prefix
	case m.Regex != nil:
		return m.Regex.Match(b)
	}
	return false
}

func stringMatchString(m *config.StringMatch, s string) bool {
	switch {
	case m.Exact != "":
		return s == m.Exact
	case m.Prefix != "":
		return strings.HasPrefix(s, m.Prefix)
	case m.Regex != nil:
		return m.Regex.MatchString(s)
	}
	return false
}
