package authz

import (
	"log/slog"
	"sync"

	"github.com/weftmesh/weft/internal/proxy/stats"
)

// Metric names.
const (
	MetricDenied = "weft_authz_denied_total"
	MetricAudit  = "weft_authz_audit_total"
)

// Values of the "result" label of weft_authz_audit_total.
const (
	// ResultAudited: a rule of an AUDIT policy (an Envoy LOG policy) matched.
	ResultAudited = "audited"
	// ResultWouldDeny: a dry-run policy (Envoy shadow rules) would have denied.
	ResultWouldDeny = "would_deny"
	// ResultWouldAllow: a dry-run policy would have let the request through.
	ResultWouldAllow = "would_allow"
)

// Reporter logs and counts what engines decide: every denial and every audit match or dry-run
// denial is one log line at info and one count.
type Reporter struct {
	log *slog.Logger
	reg *stats.Registry

	// The series of the engines in use (current) and of those being compiled (next), so that
	// the series of a policy that is gone stop being exported: see Begin and Commit.
	mu            sync.Mutex
	current, next map[series]struct{}
}

// series names one authorization counter: metric{policy, result}.
type series struct{ metric, policy, result string }

func (s series) labels() []string {
	if s.result == "" {
		return []string{"policy", s.policy}
	}
	return []string{"policy", s.policy, "result", s.result}
}

// Help texts of the authorization metrics.
const (
	helpDenied = "Requests and connections denied by authorization policies, by policy " +
		"(the AuthorizationPolicy, namespace/name, whose rule denied or whose ALLOW rules did not match)."
	helpAudit = "Requests and connections reported by AUDIT and dry-run authorization policies, by policy and " +
		"result (audited, would_deny, would_allow)."
)

// NewReporter returns a Reporter logging to log (nil discards) whose metrics go to reg (nil:
// kept but not exported). Reporters on the same registry share the metrics.
func NewReporter(log *slog.Logger, reg *stats.Registry) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = stats.NewRegistry()
	}
	return &Reporter{log: log, reg: reg}
}

func (r *Reporter) deniedCounter(policy string) *stats.Counter {
	r.note(series{MetricDenied, policy, ""})
	return r.reg.Counter(MetricDenied, helpDenied, "policy", policy)
}

func (r *Reporter) auditCounter(policy, result string) *stats.Counter {
	r.note(series{MetricAudit, policy, result})
	return r.reg.Counter(MetricAudit, helpAudit, "policy", policy, "result", result)
}

func (r *Reporter) note(s series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil {
		r.next[s] = struct{}{}
	}
}

// Begin starts the compilation of the engines that will replace every engine in use: the
// series their Compile calls resolve are noted, until Commit or Abort.
func (r *Reporter) Begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = make(map[series]struct{})
}

// Commit says the engines compiled since Begin replace all earlier ones: the series only
// earlier engines used (those of deleted policies) are no longer exported. Requests still
// running under an earlier engine are counted in the removed series, which are gone.
func (r *Reporter) Commit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.current {
		if _, ok := r.next[s]; !ok {
			r.reg.Delete(s.metric, s.labels()...)
		}
	}
	r.current, r.next = r.next, nil
}

// Abort says the engines compiled since Begin will not be used: the series only they created
// are removed, the engines in use keep theirs.
func (r *Reporter) Abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.next {
		if _, ok := r.current[s]; !ok {
			r.reg.Delete(s.metric, s.labels()...)
		}
	}
	r.next = nil
}

func (r *Reporter) deny(policy, rule string, c *stats.Counter, in *Input) {
	c.Inc()
	r.log.Info(what(in)+" denied by authorization policy", r.attrs(policy, rule, in)...)
}

func (r *Reporter) wouldDeny(policy, rule string, c *stats.Counter, in *Input) {
	c.Inc()
	r.log.Info("dry run: authorization policy would deny "+what(in), r.attrs(policy, rule, in)...)
}

func (r *Reporter) audited(policy, rule string, c *stats.Counter, in *Input) {
	c.Inc()
	r.log.Info("audit: authorization policy matched "+what(in), r.attrs(policy, rule, in)...)
}

func what(in *Input) string {
	if in.Request == nil {
		return "connection"
	}
	return "request"
}

// attrs are the log attributes of a report: the policy, the rule (or that no ALLOW rule
// matched), the caller, and the request's method and normalised path or the connection's port.
func (r *Reporter) attrs(policy, rule string, in *Input) []any {
	if rule == "" {
		rule = "none matched"
	}
	caller := in.Peer
	switch {
	case !in.Authenticated:
		caller = "none (plaintext)"
	case caller == "":
		caller = "none (certificate without URI SAN)"
	}
	if in.Request == nil {
		return []any{"policy", policy, "rule", rule, "caller", caller, "port", in.Port}
	}
	return []any{"policy", policy, "rule", rule, "caller", caller, "method", string(in.Method), "path", string(in.Path)}
}
