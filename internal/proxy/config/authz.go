package config

import "regexp"

// Authz is the authorization of a filter chain: its RBAC filters (Envoy's HTTP or network
// RBAC), in the order they run. A request (or, on a TCP chain, a connection) meets them one
// after the other until one denies it. On an HTTP chain with Authz, request paths are
// normalised before anything matches them, and the normalised path is what is routed and
// forwarded; a path with an encoded slash or backslash is refused.
type Authz struct {
	Filters []*RBACFilter
}

// RBACFilter is one RBAC filter: rules that are enforced (ALLOW, DENY) or only reported (LOG),
// and shadow rules that are evaluated and reported but never enforced (a dry run). At least one
// of the two is set.
type RBACFilter struct {
	Rules  *RBACRules
	Shadow *RBACRules
}

// RBACAction is what the rules of an RBAC filter do with a request their policies match.
type RBACAction int

const (
	// RBACAllow: a request no policy matches is denied.
	RBACAllow RBACAction = iota
	// RBACDeny: a request a policy matches is denied.
	RBACDeny
	// RBACLog: a request a policy matches is reported, never denied.
	RBACLog
)

func (a RBACAction) String() string {
	switch a {
	case RBACAllow:
		return "ALLOW"
	case RBACDeny:
		return "DENY"
	case RBACLog:
		return "LOG"
	}
	return "unknown"
}

// RBACRules are named policies and the action taken when one matches.
type RBACRules struct {
	Action RBACAction
	// Policies, sorted by name. The first that matches is the one reported.
	Policies []*RBACPolicy
}

// RBACPolicy matches a request when one of its permissions and one of its principals match.
type RBACPolicy struct {
	// Name as the control plane sent it. Weft names a policy "<namespace>/<name>/rule/<index>"
	// after the AuthorizationPolicy and rule it comes from.
	Name        string
	Permissions []*Permission
	Principals  []*Principal
}

// Permission is a condition on what is asked. Exactly one field is set (Any when true).
// Header and Path are HTTP conditions: they never match a TCP connection.
type Permission struct {
	Any bool
	And []*Permission
	Or  []*Permission
	Not *Permission
	// DestinationPort is the port the connection was accepted on.
	DestinationPort uint32
	// Header matches a request header; ":method", ":path" and ":authority" name the method,
	// the path (with the query) and the authority.
	Header *HeaderMatch
	// Path matches the normalised request path, without the query.
	Path *StringMatch
}

// Principal is a condition on who asks. Exactly one field is set (Any or Authenticated when
// true).
type Principal struct {
	Any bool
	And []*Principal
	Or  []*Principal
	Not *Principal
	// Authenticated matches a caller with a verified certificate, and when PrincipalName is
	// set, whose URI SAN (SPIFFE ID) it matches. A plaintext caller never matches.
	Authenticated bool
	PrincipalName *StringMatch
}

// StringMatch matches a string. Exactly one field is set.
type StringMatch struct {
	Exact  string
	Prefix string
	// Regex must match the whole string (an exact match of "" is the regex "^$").
	Regex *regexp.Regexp
}
